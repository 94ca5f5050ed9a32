package com.example;

import java.util.HashSet;
import java.util.Set;

import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisCluster;

public final class Cache {
    static Set<HostAndPort> nodes() {
        Set<HostAndPort> nodes = new HashSet<>();
        nodes.add(new HostAndPort("10.0.0.1", 7000));
        return nodes;
    }

    public static JedisCluster timed(ConnectionPoolConfig poolConfig) {
        return new JedisCluster(nodes(), 2000, 2000, 1, poolConfig);
    }

    public static JedisCluster configured() {
        return new JedisCluster(nodes(), DefaultJedisClientConfig.builder()
                .connectionTimeoutMillis(2000)
                .socketTimeoutMillis(2000)
                .build(), 1);
    }
}
