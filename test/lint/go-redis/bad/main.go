package main

import (
	"context"

	"github.com/redis/go-redis/v9"
)

func main() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:        []string{"10.0.0.1:7000", "10.0.0.2:7000"},
		ReadTimeout:  -1,
		MaxRedirects: -1,
		ReadOnly:     true,
	})
	defer rdb.Close()
	rdb.Incr(context.Background(), "orders")
}
