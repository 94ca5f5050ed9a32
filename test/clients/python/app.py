#!/usr/bin/python3
"""The redis-py conformance app (Debian's python3-redis): the workload every
matrix app runs (4 workers repeating SET k v, GET k, INCR on a fresh key),
on a RedisCluster configured well or in one of the ways teams get it wrong
(--config). It logs its wire traffic (wire.py) and writes a summary of its
own counters. See docs/clients.md.

    REDIS_CLUSTER_ADDRS=127.0.0.1:7001,... /usr/bin/python3 app.py --config good --duration 20s
"""

import argparse
import json
import os
import random
import sys
import threading
import time

import wire  # before redis opens any socket

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot


def duration(s):
    if s.endswith("ms"):
        return float(s[:-2]) / 1000
    if s.endswith("s"):
        return float(s[:-1])
    return float(s)


def addr(a):
    host, port = a.rsplit(":", 1)
    return host, int(port)


def cluster(**tune):
    def new(addrs, name):
        opts = dict(startup_nodes=[ClusterNode(*addr(a)) for a in addrs], client_name=name,
                    socket_timeout=0.5, socket_connect_timeout=0.5)
        opts.update(tune)
        return RedisCluster(**opts)
    return new


def plain(addrs, name):
    host, port = addr(addrs[0])
    return redis.Redis(host=host, port=port, client_name=name, socket_timeout=0.5, socket_connect_timeout=0.5)


class ManualCluster:
    """A cluster wrapper written by hand over plain clients, as teams wrote
    them before their library handled clusters: it reads CLUSTER SLOTS once,
    moves a slot to the node a MOVED names, and does the same on ASK
    (without ASKING)."""

    def __init__(self, addrs, name):
        self.name = name
        self.conns = {}
        self.lock = threading.Lock()
        self.slots = [None] * 16384
        for start, end, master, *_ in self.node(addr(addrs[0])).execute_command("CLUSTER SLOTS"):
            node = (master[0].decode(), int(master[1]))
            for i in range(start, end + 1):
                self.slots[i] = node

    def node(self, hp):
        with self.lock:
            c = self.conns.get(hp)
            if c is None:
                c = self.conns[hp] = redis.Redis(host=hp[0], port=hp[1], client_name=self.name,
                                                 socket_timeout=0.5, socket_connect_timeout=0.5)
            return c

    def run(self, key, f):
        slot = key_slot(key.encode())
        err = None
        for _ in range(5):
            try:
                return f(self.node(self.slots[slot]))
            except redis.exceptions.ResponseError as e:
                parts = str(e).split()
                if len(parts) != 3 or parts[0] not in ("MOVED", "ASK"):
                    raise
                err = e
                self.slots[slot] = addr(parts[2])
        raise err

    def set(self, key, val, ex=None):
        return self.run(key, lambda c: c.set(key, val, ex=ex))

    def get(self, key):
        return self.run(key, lambda c: c.get(key))

    def incr(self, key):
        return self.run(key, lambda c: c.incr(key))

    def close(self):
        for c in list(self.conns.values()):
            c.close()


CONFIGS = {
    "good": ("RedisCluster, socket_timeout 0.5 s, socket_connect_timeout 0.5 s, default retries", {}, cluster()),
    "no-timeout": ("RedisCluster without socket_timeout/socket_connect_timeout", {},
                   cluster(socket_timeout=None, socket_connect_timeout=None)),
    "retry-loop": ("good RedisCluster, and the app resends every failed command at once (up to 20 times)",
                   {"retry": True}, cluster()),
    "incr-retry": ("good RedisCluster with socket_timeout 0.3 s, and the app resends an INCR that timed out",
                   {"incr_retry": True}, cluster(socket_timeout=0.3)),
    "health-restart": ("good RedisCluster; a health check PINGs every node every 250 ms and rebuilds the client when one fails",
                       {"health": "restart"}, cluster()),
    "breaker": ("good RedisCluster; after 3 failed operations in a row the app stops until every node answers PING",
                {"breaker": True}, cluster()),
    "plain": ("redis.Redis (not a cluster client) on the first seed address", {}, plain),
    "manual-redirect": ("plain redis.Redis clients behind a hand-written slot map: follows MOVED, and treats ASK like MOVED (no ASKING)",
                        {}, ManualCluster),
}


def classify(e):
    n = type(e).__name__
    for cls, name in (("MovedError", "moved"), ("AskError", "ask"), ("ClusterDownError", "clusterdown"),
                      ("TryAgainError", "tryagain"), ("TimeoutError", "timeout")):
        if n == cls:
            return name
    s = str(e).upper()
    for sub, name in (("MOVED ", "moved"), ("ASK ", "ask"), ("CLUSTERDOWN", "clusterdown"), ("TRYAGAIN", "tryagain"),
                      ("LOADING", "loading"), ("MASTERDOWN", "masterdown"), ("CROSSSLOT", "crossslot"),
                      ("TIMEOUT", "timeout"), ("TIMED OUT", "timeout"), ("REFUSED", "refused"), ("RESET", "reset"),
                      ("CLOSED", "reset"), ("EOF", "reset"), ("BROKEN PIPE", "reset")):
        if sub in s:
            return name
    return "other"


class App:
    def __init__(self, cfg_name, addrs, name, workers, interval, rec):
        self.desc, self.policy, self.new = CONFIGS[cfg_name]
        self.addrs, self.name, self.rec = addrs, name, rec
        self.workers, self.interval = workers, interval
        self.run = "%x" % random.getrandbits(48)
        self.lock = threading.Lock()
        self.client = None
        self.nodes = {}  # the health check's single-node clients
        self.inflight = [0] * workers
        self.fails_in_row = 0
        self.breaker_open = 0.0
        self.sum = {"library": "redis-py", "version": redis.__version__, "config": cfg_name, "desc": self.desc,
                    "start_us": 0, "end_us": 0, "ops_ok": 0, "ops_failed": 0, "errors": {}, "app_retries": 0,
                    "restarts": 0, "mismatched": 0, "missing": 0, "incr_sent": 0, "incr_above_1": 0,
                    "probes": 0, "probe_failures": 0, "breaker_open_ms": 0, "max_op_ms": 0, "stuck": 0}

    def count(self, key, n=1):
        with self.lock:
            self.sum[key] += n

    def do(self, f):
        attempt = 0
        while True:
            try:
                return f()
            except redis.exceptions.RedisError as e:
                if not self.policy.get("retry") or attempt >= 20 or self.done.is_set():
                    raise
                attempt += 1
                self.count("app_retries")
                self.rec.log(k="retry")

    def op(self, w, i):
        c = self.client
        key = "m:%s:%d:%d" % (self.run, w, i)
        val = "%s=%d" % (key, wire.now_us())
        self.do(lambda: c.set(key, val, ex=60))
        got = self.do(lambda: c.get(key))
        if got is None:
            self.count("missing")
            self.rec.log(k="missing")
            return "missing"
        if got != val.encode():
            self.count("mismatched")
            self.rec.log(k="mismatch")
            return "mismatch"
        ckey = "c:%s:%d:%d" % (self.run, w, i)
        self.count("incr_sent")

        def incr():
            try:
                return c.incr(ckey)
            except redis.exceptions.TimeoutError:
                if not self.policy.get("incr_retry"):
                    raise
                self.count("app_retries")
                self.rec.log(k="retry")
                return c.incr(ckey)
        n = self.do(incr)
        if n > 1:
            self.count("incr_above_1")
        return ""

    def worker(self, w):
        i = 0
        while not self.done.is_set():
            if self.breaker_open:
                self.done.wait(self.interval)
                continue
            start = wire.now_us()
            self.inflight[w] = start
            msg = ""
            try:
                cls = self.op(w, i)
            except Exception as e:  # the library's errors, whatever their class
                cls = classify(e)
                msg = "%s: %s" % (type(e).__name__, str(e)[:100])
            end = wire.now_us()
            self.inflight[w] = 0
            i += 1
            ok = cls == ""
            self.rec.log(t=end, k="op", d=end - start, ok=ok, **({} if ok else {"e": cls, "note": msg}))
            with self.lock:
                self.sum["max_op_ms"] = max(self.sum["max_op_ms"], (end - start) // 1000)
                if ok:
                    self.sum["ops_ok"] += 1
                    self.fails_in_row = 0
                else:
                    self.sum["ops_failed"] += 1
                    self.sum["errors"][cls] = self.sum["errors"].get(cls, 0) + 1
                    self.fails_in_row += 1
                    if self.policy.get("breaker") and self.fails_in_row >= 3 and not self.breaker_open:
                        self.breaker_open = time.time()
                        self.rec.log(k="breaker", note="open")
            self.done.wait(self.interval)

    def probe(self, timeout):
        res = {}
        for a in self.addrs:
            n = self.nodes.get(a)
            if n is None:
                host, port = addr(a)
                n = self.nodes[a] = redis.Redis(host=host, port=port, client_name=self.name,
                                                socket_timeout=timeout, socket_connect_timeout=timeout)
            try:
                n.ping()
                res[a] = True
            except Exception:
                res[a] = False
        return res

    def close_all(self, client, nodes):
        for n in nodes.values():
            n.close()
        try:
            client.close()
        except Exception:
            pass

    def health(self):
        last_restart = 0.0
        while not self.done.wait(0.25):
            res = self.probe(0.3)
            failed = False
            for a, ok in res.items():
                failed = failed or not ok
                self.rec.log(k="probe", p=addr(a)[1], ok=ok)
                self.count("probes")
                if not ok:
                    self.count("probe_failures")
            if failed and self.policy.get("health") == "restart" and time.time() - last_restart >= 3:
                try:
                    c = self.new(self.addrs, self.name)
                except Exception:
                    continue
                last_restart = time.time()
                old, oldnodes = self.client, self.nodes
                self.client, self.nodes = c, {}
                threading.Thread(target=self.close_all, args=(old, oldnodes), daemon=True).start()
                self.rec.log(k="restart")
                self.count("restarts")

    def breaker(self):
        while not self.done.wait(1.5):
            if not self.breaker_open:
                continue
            res = self.probe(1.0)
            for a, ok in res.items():
                self.rec.log(k="probe", p=addr(a)[1], ok=ok, note="breaker")
            if all(res.values()):
                with self.lock:
                    self.sum["breaker_open_ms"] += int((time.time() - self.breaker_open) * 1000)
                    self.breaker_open = 0.0
                    self.fails_in_row = 0
                self.rec.log(k="breaker", note="close")

    def main(self, d):
        self.sum["start_us"] = wire.now_us()
        self.done = threading.Event()
        # As a service does at start-up: retry until the client can be built.
        give_up = time.time() + d
        while True:
            try:
                self.client = self.new(self.addrs, self.name)
                break
            except Exception as e:
                print("client:", e, file=sys.stderr)
                if time.time() + 0.5 >= give_up:
                    self.sum["end_us"] = wire.now_us()
                    return
                time.sleep(0.5)
        d = max(0.0, give_up - time.time())
        threads = [threading.Thread(target=self.worker, args=(w,), daemon=True) for w in range(self.workers)]
        if self.policy.get("health"):
            threads.append(threading.Thread(target=self.health, daemon=True))
        if self.policy.get("breaker"):
            threads.append(threading.Thread(target=self.breaker, daemon=True))
        for t in threads:
            t.start()
        time.sleep(d)
        self.done.set()
        deadline = time.time() + 3
        for t in threads:
            t.join(max(0, deadline - time.time()))
        now = wire.now_us()
        for s in self.inflight:
            if s:
                self.rec.log(t=now, k="op", d=now - s, ok=False, e="stuck")
                self.sum["stuck"] += 1
                self.sum["max_op_ms"] = max(self.sum["max_op_ms"], (now - s) // 1000)
        if self.breaker_open:
            self.sum["breaker_open_ms"] += int((time.time() - self.breaker_open) * 1000)
        self.sum["end_us"] = now
        self.rec.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="good", choices=sorted(CONFIGS))
    ap.add_argument("--addrs", default=os.environ.get("REDIS_CLUSTER_ADDRS", ""))
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--interval", default="20ms")
    ap.add_argument("--wire", default="wire.jsonl")
    ap.add_argument("--out", default="summary.json")
    ap.add_argument("--name", default="matrix")
    a = ap.parse_args()
    if not a.addrs:
        print("app.py: no seed addresses (REDIS_CLUSTER_ADDRS or --addrs)", file=sys.stderr)
        return 2
    rec = wire.install(a.wire)
    app = App(a.config, a.addrs.split(","), a.name, a.workers, duration(a.interval), rec)
    app.main(duration(a.duration))
    rec.close()
    with open(a.out, "w") as f:
        json.dump(app.sum, f, indent=2)
    s = app.sum
    print("redis-py/%s: %d ok, %d failed, errors %s, restarts %d, retries %d" % (
        a.config, s["ops_ok"], s["ops_failed"], s["errors"], s["restarts"], s["app_retries"]), file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # workers stuck on a command without a timeout are left behind


if __name__ == "__main__":
    sys.exit(main())
