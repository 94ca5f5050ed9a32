package com.example;

import java.time.Duration;

import io.lettuce.core.RedisURI;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;

public final class RedisConfig {
    public static RedisClusterClient client() {
        RedisClusterClient client = RedisClusterClient.create(RedisURI.create("redis://10.0.0.1:7000"));
        // Not cancelCommandsOnReconnectFailure(true), not requestQueueSize(Integer.MAX_VALUE).
        ClusterTopologyRefreshOptions refresh = ClusterTopologyRefreshOptions.builder()
                .enableAllAdaptiveRefreshTriggers()
                .enablePeriodicRefresh(Duration.ofSeconds(30))
                .build();
        client.setOptions(ClusterClientOptions.builder()
                .cancelCommandsOnReconnectFailure(false)
                .requestQueueSize(10_000)
                .timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(2)))
                .topologyRefreshOptions(refresh)
                .build());
        return client;
    }
}
