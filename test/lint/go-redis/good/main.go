package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	// Not ReadTimeout: -1, not MaxRedirects: -1.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:          []string{"10.0.0.1:7000", "10.0.0.2:7000"},
		ReadTimeout:    2 * time.Second,
		MaxRedirects:   8,
		ReadOnly:       true,
		RouteByLatency: true,
	})
	defer rdb.Close()
	rdb.Incr(context.Background(), "orders")
}
