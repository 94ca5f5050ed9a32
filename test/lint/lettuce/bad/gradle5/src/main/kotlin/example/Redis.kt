package example

import io.lettuce.core.RedisURI
import io.lettuce.core.cluster.RedisClusterClient

fun client(): RedisClusterClient =
    RedisClusterClient.create(listOf(RedisURI.create("redis://10.0.0.1:7000")))
