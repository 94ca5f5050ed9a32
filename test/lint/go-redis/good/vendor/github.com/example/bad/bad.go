// Package bad is vendored: the linter skips vendor/.
package bad

import "github.com/redis/go-redis/v9"

var Opts = redis.ClusterOptions{ReadTimeout: -1}
