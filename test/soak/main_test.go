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

// TestSoakShort is the CI version of `make soak`: 10 s, 100 connections.
func TestSoakShort(t *testing.T) {
	res, err := Run(context.Background(), Config{Duration: 10 * time.Second, Conns: 100, Out: os.Stdout})
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
