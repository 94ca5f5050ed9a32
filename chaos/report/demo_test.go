package report

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestDemoReport runs a short chaos session against a real cluster — an
// application on go-redis (SET/GET/INCR), a legacy non-cluster client and an
// operator's redis-cli — through replica-down, master-down, MOVED injection
// and latency, and writes the three reports into $REDIS_CHAOS_REPORT_DEMO.
// docs/report.png is a screenshot of its report.html:
//
//	REDIS_CHAOS_REPORT_DEMO=/tmp/demo go test -run TestDemoReport ./chaos/report/
func TestDemoReport(t *testing.T) {
	dir := os.Getenv("REDIS_CHAOS_REPORT_DEMO")
	if dir == "" {
		t.Skip("set REDIS_CHAOS_REPORT_DEMO to a directory to run the demo")
	}
	cl := testenv.StartCluster(t, testenv.ClusterOptions{})
	ft := &demoFaults{}
	ck := checker.New(checker.Config{Faults: ft})
	ck.Start()
	defer ck.Close()
	p := testenv.StartProxy(t, cl.Addrs(), func(c *proxy.Config) { c.Observer = ck; c.Policy = ft })
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()

	app := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(p), ClientName: "orders",
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	defer app.Close()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("order:%d:%d", w, i%300)
				app.Set(ctx, k, i, 0)
				app.Get(ctx, k)
				if i%10 == 0 {
					app.Incr(ctx, fmt.Sprintf("orders:count:%d", i%50))
				}
				time.Sleep(3 * time.Millisecond)
			}
		}(w)
	}
	masters, replicas := nodesOf(p, "master"), nodesOf(p, "replica")
	// A legacy non-cluster client, pointed at one node.
	legacy := redis.NewClient(&redis.Options{Addr: masters[0].Announce, DialTimeout: 300 * time.Millisecond})
	defer legacy.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			legacy.Get(ctx, fmt.Sprint("session:", i%40))
			time.Sleep(150 * time.Millisecond)
		}
	}()

	var scenarios []Scenario
	run := func(name, detail, expect, action string, nodes []proxy.NodeInfo, hold time.Duration, inject func(), undo func()) {
		sc := Scenario{Name: name, Detail: detail, Expect: expect, Start: time.Now()}
		sc.Phases = append(sc.Phases, Phase{Name: "inject", Start: time.Now(), End: time.Now()})
		id := ft.add(action, addrs(nodes))
		inject()
		hs := time.Now()
		time.Sleep(hold)
		sc.Phases = append(sc.Phases, Phase{Name: "hold", Start: hs, End: time.Now()})
		undo()
		ft.stop(id)
		rs := time.Now()
		time.Sleep(2 * time.Second)
		sc.Phases = append(sc.Phases, Phase{Name: "recover", Start: rs, End: time.Now()})
		sc.End = time.Now()
		sc.Faults = []checker.FaultWindow{ft.window(id)}
		scenarios = append(scenarios, sc)
	}
	time.Sleep(3 * time.Second)
	r := replicas[0]
	run("replica-down", "replica "+r.Announce, "nothing breaks", "down", []proxy.NodeInfo{r}, 3*time.Second,
		func() { p.SetDown(r.Addr, true) }, func() { p.SetDown(r.Addr, false) })
	m := masters[1]
	run("master-down", "master "+m.Announce, "errors for one shard's keys until it is back (simulated without failover)", "down",
		[]proxy.NodeInfo{m}, 3*time.Second, func() { p.SetDown(m.Addr, true) }, func() { p.SetDown(m.Addr, false) })
	ft.setMoved(masters[2].Addr, masters[0].Announce)
	run("moved", "one master answers a fifth of its commands with MOVED", "commands follow the redirect", "error",
		[]proxy.NodeInfo{masters[2]}, 3*time.Second, func() {}, func() { ft.setMoved("", "") })
	// An operator runs KEYS in the middle of it all.
	host, port, _ := net.SplitHostPort(masters[0].Announce)
	exec.Command("redis-cli", "-h", host, "-p", port, "KEYS", "order:*").Run()
	ft.setDelay(masters[0].Addr, 150*time.Millisecond)
	run("latency", "150 ms on master "+masters[0].Announce, "slower, no errors", "latency", []proxy.NodeInfo{masters[0]},
		3*time.Second, func() {}, func() { ft.setDelay("", 0) })
	cancel()
	wg.Wait()
	ck.Flush(context.Background())
	rep := Build(ck, Run{Name: "demo", Mode: "simulate", Seed: 42, Start: start, End: time.Now(),
		Command: []string{"./orders-service", "--self-test"}, Seeds: testenv.Seeds(p)}, scenarios, NodesFrom(p.Nodes()))
	rep.FailOn = checker.Medium
	if err := WriteFiles(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		t.Logf("%s %s %s ×%d", f.Severity, f.Rule, f.Client, f.Count)
	}
}

func nodesOf(p *proxy.Server, role string) []proxy.NodeInfo {
	var out []proxy.NodeInfo
	for _, n := range p.Nodes() {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

func addrs(ns []proxy.NodeInfo) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Addr)
	}
	return out
}

// demoFaults is a tiny stand-in for the chaos engine: MOVED injection,
// latency, and the windows for the checker.
type demoFaults struct {
	mu       sync.Mutex
	windows  []checker.FaultWindow
	movedOn  string
	movedTo  string
	n        int
	delayOn  string
	delayFor time.Duration
}

func (d *demoFaults) add(action string, nodes []string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := fmt.Sprintf("f%d", len(d.windows)+1)
	d.windows = append(d.windows, checker.FaultWindow{ID: id, Action: action, Nodes: nodes, Start: time.Now()})
	return id
}

func (d *demoFaults) stop(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.windows {
		if d.windows[i].ID == id {
			d.windows[i].End = time.Now()
		}
	}
}

func (d *demoFaults) window(id string) checker.FaultWindow {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.windows {
		if w.ID == id {
			return w
		}
	}
	return checker.FaultWindow{}
}

func (d *demoFaults) setMoved(on, to string) {
	d.mu.Lock()
	d.movedOn, d.movedTo = on, to
	d.mu.Unlock()
}

func (d *demoFaults) setDelay(on string, delay time.Duration) {
	d.mu.Lock()
	d.delayOn, d.delayFor = on, delay
	d.mu.Unlock()
}

func (d *demoFaults) Active(now time.Time) []checker.FaultWindow {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []checker.FaultWindow
	for _, w := range d.windows {
		if w.ActiveAt(now) {
			out = append(out, w)
		}
	}
	return out
}

func (d *demoFaults) Command(c *proxy.ConnInfo, cmd *proxy.Command) proxy.Action {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.Node == d.movedOn && cmd.Slot >= 0 {
		d.n++
		if d.n%5 == 0 {
			return proxy.Action{Kind: proxy.Reply, Fault: "moved",
				Reply: []byte(fmt.Sprintf("-MOVED %d %s\r\n", cmd.Slot, d.movedTo))}
		}
	}
	if c.Node == d.delayOn {
		return proxy.Action{Delay: d.delayFor, Fault: "latency"}
	}
	return proxy.Action{}
}
