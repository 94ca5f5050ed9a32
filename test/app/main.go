// Command app is an example application for redis-chaos run: it uses a
// go-redis ClusterClient the way a service would, with a steady SET/GET load,
// and exits non-zero when it could not recover by the end.
//
//	redis-chaos run --scenarios replica-down,master-down -- go run ./test/app --duration 30s
//
// It reads the cluster's addresses from REDIS_CLUSTER_ADDRS (comma separated)
// or --addrs. Flags make it behave unsafely, for the checker to flag:
// --no-timeouts (ReadTimeout -1: a hung node blocks it forever),
// --max-retries, --min-backoff/--max-backoff.
//
// Exit codes: 0 the load recovered (the last --recover-window had no error),
// 1 it did not, 2 bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	addrs := fs.String("addrs", os.Getenv("REDIS_CLUSTER_ADDRS"), "cluster seed addresses, comma separated (default $REDIS_CLUSTER_ADDRS)")
	duration := fs.Duration("duration", 20*time.Second, "how long to run the load")
	workers := fs.Int("workers", 4, "concurrent workers")
	interval := fs.Duration("interval", 20*time.Millisecond, "pause between one worker's commands")
	recoverWindow := fs.Duration("recover-window", 2*time.Second, "the last commands within this window must all succeed")
	noTimeouts := fs.Bool("no-timeouts", false, "unsafe: no read/write timeouts (ReadTimeout -1), no per-command deadline")
	maxRetries := fs.Int("max-retries", 0, "MaxRetries of the client (0: go-redis default, -1: none)")
	minBackoff := fs.Duration("min-backoff", 0, "MinRetryBackoff (0: go-redis default, -1: none)")
	maxBackoff := fs.Duration("max-backoff", 0, "MaxRetryBackoff (0: go-redis default, -1: none)")
	readTimeout := fs.Duration("read-timeout", 500*time.Millisecond, "ReadTimeout and WriteTimeout")
	cmdTimeout := fs.Duration("command-timeout", 2*time.Second, "deadline of each command (0: none)")
	name := fs.String("name", "example-app", "CLIENT SETNAME of the connections")
	verbose := fs.Bool("v", false, "log every error")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *addrs == "" {
		fmt.Fprintln(os.Stderr, "app: no cluster address: set REDIS_CLUSTER_ADDRS or --addrs")
		return 2
	}
	opt := &redis.ClusterOptions{
		Addrs:           strings.Split(*addrs, ","),
		ClientName:      *name,
		ReadTimeout:     *readTimeout,
		WriteTimeout:    *readTimeout,
		DialTimeout:     time.Second,
		MaxRetries:      *maxRetries,
		MinRetryBackoff: *minBackoff,
		MaxRetryBackoff: *maxBackoff,
	}
	if *noTimeouts {
		opt.ReadTimeout, opt.WriteTimeout = -1, -1
		*cmdTimeout = 0
	}
	c := redis.NewClusterClient(opt)
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	var ok, failed atomic.Int64
	var lastErr atomic.Int64 // unix nanos of the latest error
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("app:%d:%d", w, i%1000)
				began := time.Now()
				err := op(ctx, c, key, *cmdTimeout)
				switch {
				case err == nil:
					ok.Add(1)
				case ctx.Err() != nil && time.Since(began) < *recoverWindow:
					// the run's end cut a command short: not a failure
				default:
					// an error, or a command stuck until the end (no timeouts)
					failed.Add(1)
					lastErr.Store(time.Now().UnixNano())
					if *verbose {
						fmt.Fprintf(os.Stderr, "app: %s: %v\n", time.Since(start).Round(time.Millisecond), err)
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(*interval):
				}
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	le := time.Unix(0, lastErr.Load())
	fmt.Fprintf(os.Stderr, "app: %d ok, %d failed in %s\n", ok.Load(), failed.Load(), end.Sub(start).Round(time.Millisecond))
	if ok.Load() == 0 {
		fmt.Fprintln(os.Stderr, "app: FAIL: no command succeeded")
		return 1
	}
	if lastErr.Load() != 0 && end.Sub(le) < *recoverWindow {
		fmt.Fprintf(os.Stderr, "app: FAIL: still failing %s before the end (want none in the last %s)\n",
			end.Sub(le).Round(time.Millisecond), *recoverWindow)
		return 1
	}
	fmt.Fprintln(os.Stderr, "app: OK: recovered")
	return 0
}

// op writes a key and reads it back, as a request of a service would.
func op(ctx context.Context, c *redis.ClusterClient, key string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	val := time.Now().Format(time.RFC3339Nano)
	if err := c.Set(ctx, key, val, time.Minute).Err(); err != nil {
		return fmt.Errorf("SET %s: %w", key, err)
	}
	got, err := c.Get(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("GET %s: %w", key, err)
	}
	if got != val {
		return fmt.Errorf("GET %s: got %q, want %q (a reply paired with the wrong request?)", key, got, val)
	}
	return nil
}
