package scratch

import "github.com/redis/go-redis/v9"

var Opts = redis.ClusterOptions{ReadTimeout: -1}
