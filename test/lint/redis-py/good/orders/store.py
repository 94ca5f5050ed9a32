import redis
from redis.cluster import RedisCluster

# require_full_coverage=True would stop every slot when one shard is down.


def connect():
    return RedisCluster(
        host="10.0.0.1",
        port=7000,
        require_full_coverage=False,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
    )


def plain():
    return redis.Redis(host="localhost", socket_timeout=1)
