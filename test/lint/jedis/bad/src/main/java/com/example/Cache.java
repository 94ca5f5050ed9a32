package com.example;

import java.util.HashSet;
import java.util.Set;

import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisCluster;

public final class Cache {
    private static final int MAX_ATTEMPTS = 5;

    static Set<HostAndPort> nodes() {
        Set<HostAndPort> nodes = new HashSet<>();
        nodes.add(new HostAndPort("10.0.0.1", 7000));
        return nodes;
    }

    public static JedisCluster plain() {
        return new JedisCluster(nodes());
    }

    public static JedisCluster pooled(ConnectionPoolConfig poolConfig) {
        return new JedisCluster(nodes(), poolConfig);
    }

    public static JedisCluster retrying(ConnectionPoolConfig poolConfig) {
        return new JedisCluster(nodes(), 2000, 2000,
                MAX_ATTEMPTS, poolConfig);
    }
}
