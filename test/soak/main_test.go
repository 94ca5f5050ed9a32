package main

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// TestSoakShort is the CI version of `make soak`: 10 s, 100 connections,
// with one upstream connection per client, then with shared upstreams.
func TestSoakShort(t *testing.T) {
	for _, share := range []bool{false, true} {
		t.Run(map[bool]string{false: "1:1", true: "shared"}[share], func(t *testing.T) { soakShort(t, share) })
	}
}

func soakShort(t *testing.T, share bool) {
	res, err := Run(context.Background(), Config{Duration: 10 * time.Second, Conns: 100, Share: share, Out: os.Stdout})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(); err != nil {
		t.Fatal(err)
	}
	if res.FaultsAdded == 0 || res.Explained+res.Closed == 0 {
		t.Fatalf("no fault had an effect: %+v", res)
	}
}
