package com.example;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;

public final class RedisConfig {
    public static RedisClusterClient client() {
        RedisClusterClient client = RedisClusterClient.create(RedisURI.create("redis://10.0.0.1:7000"));
        ClusterTopologyRefreshOptions refresh = ClusterTopologyRefreshOptions.builder()
                .enablePeriodicRefresh(false)
                .build();
        client.setOptions(ClusterClientOptions.builder()
                .cancelCommandsOnReconnectFailure(true)
                .requestQueueSize(Integer.MAX_VALUE)
                .topologyRefreshOptions(refresh)
                .build());
        return client;
    }
}
