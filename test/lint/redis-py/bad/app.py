from redis.cluster import RedisCluster


def connect():
    return RedisCluster(
        host="10.0.0.1",
        port=7000,
        require_full_coverage=True,
        socket_timeout=None,
    )
