package main

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeNode answers ECHO, SET and GET as Redis would, then lets corrupt
// rewrite each batch of replies (one batch per read of the client's input).
func fakeNode(t *testing.T, corrupt func([]string) []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFake(c, corrupt)
		}
	}()
	return ln.Addr().String()
}

func serveFake(c net.Conn, corrupt func([]string) []string) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		var replies []string
		for {
			args, err := readArgs(r)
			if err != nil {
				return
			}
			switch strings.ToUpper(args[0]) {
			case "ECHO", "GET":
				replies = append(replies, bulk(args[1]))
			default:
				replies = append(replies, "+OK\r\n")
			}
			if r.Buffered() == 0 {
				break
			}
		}
		if _, err := io.WriteString(c, strings.Join(corrupt(replies), "")); err != nil {
			return
		}
	}
}

func readArgs(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil {
			return nil, err
		}
		a, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(a, "\r\n")
	}
	return args, nil
}

// TestCheckerCatchesCorruption: the soak's client finds swapped and
// duplicated replies, and passes exact ones.
func TestCheckerCatchesCorruption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func([]string) []string
		want    func(*Result) int64
	}{
		{"exact", func(r []string) []string { return r }, func(r *Result) int64 { return r.OK }},
		{"swapped", func(r []string) []string {
			if len(r) > 1 {
				r[0], r[1] = r[1], r[0]
			}
			return r
		}, func(r *Result) int64 { return r.Mismatches + r.Duplicates }},
		{"duplicated", func(r []string) []string {
			return append([]string{r[0]}, r...)
		}, func(r *Result) int64 { return r.Mismatches + r.Duplicates }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &Result{}
			s := &soak{cfg: Config{Out: io.Discard}, res: res}
			cl := &client{s: s, id: 7, rnd: rand.New(rand.NewPCG(1, 2)), addr: fakeNode(t, tc.corrupt)}
			c, err := net.Dial("tcp", cl.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			cl.session(ctx, c, "{t7}")
			if tc.want(res) == 0 {
				t.Errorf("not detected: %+v", *res)
			}
			if tc.name == "exact" && res.Mismatches+res.Duplicates+res.Lost+res.Unexplained > 0 {
				t.Errorf("exact replies flagged: %+v", *res)
			}
		})
	}
}
