package chaos

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReadSettings reads the settings the virtual cluster follows from a real node
// (CONFIG GET only: nothing is written).
func ReadSettings(ctx context.Context, addr, username, password string) (Settings, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Username: username, Password: password,
		MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true, Protocol: 2})
	defer c.Close()
	st := Settings{NodeTimeout: 15 * time.Second, FullCoverage: true}
	vals, err := c.ConfigGet(ctx, "cluster-*").Result()
	if err != nil {
		return st, fmt.Errorf("CONFIG GET on %s: %w", addr, err)
	}
	if v, ok := vals["cluster-node-timeout"]; ok {
		if ms, err := strconv.Atoi(v); err == nil {
			st.NodeTimeout = time.Duration(ms) * time.Millisecond
		}
	}
	if v, ok := vals["cluster-require-full-coverage"]; ok {
		st.FullCoverage = v == "yes"
	}
	if v, ok := vals["cluster-allow-reads-when-down"]; ok {
		st.AllowReadsWhenDown = v == "yes"
	}
	return st, nil
}
