package com.example;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;

// Lettuce 7 turns adaptive and periodic topology refresh on by default.
public final class Redis {
    public static RedisClusterClient client() {
        return RedisClusterClient.create(RedisURI.create("redis://10.0.0.1:7000"));
    }
}
