'use strict';
// The workload every matrix app runs (see docs/clients.md), for Node.js:
// 4 workers each repeating SET k v, GET k (the reply must be v), INCR on a
// fresh key, plus what the configuration adds (a retry loop, a resent INCR,
// a health check over every node that rebuilds the client, a circuit
// breaker). The wire log is written by wire.js; a summary of the app's own
// counters is written at the end.

const fs = require('fs');
const wire = require('./wire');

function parseDuration(s) {
  const m = /^([\d.]+)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}`);
  const n = parseFloat(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60000 : n * 1000;
}

function parseArgs(argv) {
  const o = {
    config: 'good', addrs: process.env.REDIS_CLUSTER_ADDRS || '', duration: '20s', workers: '4',
    interval: '20ms', wire: 'wire.jsonl', out: 'summary.json', name: 'matrix',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.includes('=') ? a.slice(2).split(/=(.*)/s) : [a.slice(2), argv[++i]];
    if (!(k in o)) throw new Error(`unknown flag --${k}`);
    o[k] = v;
  }
  return o;
}

function classify(err) {
  const s = `${(err && err.name) || ''} ${(err && err.message) || err}`.toUpperCase();
  for (const [sub, name] of [['MOVED ', 'moved'], ['ASK ', 'ask'], ['CLUSTERDOWN', 'clusterdown'], ['TRYAGAIN', 'tryagain'],
    ['LOADING', 'loading'], ['MASTERDOWN', 'masterdown'], ['CROSSSLOT', 'crossslot'], ['TIMEOUT', 'timeout'],
    ['TIMED OUT', 'timeout'], ['REFUSED', 'refused'], ['RESET', 'reset'], ['CLOSED', 'reset'], ['EOF', 'reset'],
    ['BROKEN PIPE', 'reset'], ['EPIPE', 'reset']]) {
    if (s.includes(sub)) return name;
  }
  return 'other';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// main runs an app. configs: name → { desc, policy, create(addrs, name) →
// Promise<client> } where a client has set, get, incr, probe(addrs,
// timeoutMs) → {addr: error|null}, close.
async function main(library, version, configs) {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${library}: ${e.message}`);
    process.exit(2);
  }
  const cfg = configs[o.config];
  if (!cfg || !o.addrs) {
    console.error(`${library}: need --config (one of ${Object.keys(configs).sort().join(', ')}) and seed addresses`);
    process.exit(2);
  }
  const rec = wire.install(o.wire);
  const policy = cfg.policy || {};
  const addrs = o.addrs.split(',');
  const workers = parseInt(o.workers, 10);
  const interval = parseDuration(o.interval);
  const run = Math.random().toString(36).slice(2, 12);
  const sum = {
    library, version, config: o.config, desc: cfg.desc, start_us: wire.nowUs(), end_us: 0, ops_ok: 0, ops_failed: 0,
    errors: {}, app_retries: 0, restarts: 0, mismatched: 0, missing: 0, incr_sent: 0, incr_above_1: 0, probes: 0,
    probe_failures: 0, breaker_open_ms: 0, max_op_ms: 0, stuck: 0,
  };
  let done = false;
  let failsInRow = 0;
  let breakerOpen = 0;
  const inflight = new Array(workers).fill(0);
  // Errors the library emits outside of a command (connection events) are
  // its own business; an unhandled 'error' event must not end the app.
  process.on('unhandledRejection', () => {});

  // As a service does at start-up: retry until the client can be built.
  const giveUp = Date.now() + parseDuration(o.duration);
  let client;
  while (!client && Date.now() + 500 < giveUp) {
    try {
      client = await cfg.create(addrs, o.name);
    } catch (e) {
      console.error(`client: ${e.message}`);
      await sleep(500);
    }
  }

  const retried = () => {
    sum.app_retries++;
    rec.log({ k: 'retry' });
  };
  const doCmd = async (f) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (!policy.retry || attempt >= 20 || done) throw e;
        retried();
      }
    }
  };

  const op = async (w, i) => {
    const c = client;
    const key = `m:${run}:${w}:${i}`;
    const val = `${key}=${wire.nowUs()}`;
    await doCmd(() => c.set(key, val));
    const got = await doCmd(() => c.get(key));
    if (got === null || got === undefined) {
      sum.missing++;
      rec.log({ k: 'missing' });
      return 'missing';
    }
    if (String(got) !== val) {
      sum.mismatched++;
      rec.log({ k: 'mismatch' });
      return 'mismatch';
    }
    const ckey = `c:${run}:${w}:${i}`;
    sum.incr_sent++;
    const n = await doCmd(async () => {
      try {
        return await c.incr(ckey);
      } catch (e) {
        if (!policy.incrRetry || classify(e) !== 'timeout') throw e;
        retried();
        return c.incr(ckey);
      }
    });
    if (Number(n) > 1) sum.incr_above_1++;
    return '';
  };

  const worker = async (w) => {
    for (let i = 0; !done; i++) {
      if (breakerOpen) {
        await sleep(interval);
        continue;
      }
      const start = wire.nowUs();
      inflight[w] = start;
      let cls = '';
      let msg = '';
      try {
        cls = await op(w, i);
      } catch (e) {
        cls = classify(e);
        msg = String((e && e.message) || e).slice(0, 100);
      }
      inflight[w] = 0;
      if (done && cls !== '') return; // the run's end cut the operation short
      const end = wire.nowUs();
      const ok = cls === '';
      rec.log(ok ? { t: end, k: 'op', d: end - start, ok } : { t: end, k: 'op', d: end - start, ok, e: cls, note: msg });
      sum.max_op_ms = Math.max(sum.max_op_ms, Math.floor((end - start) / 1000));
      if (ok) {
        sum.ops_ok++;
        failsInRow = 0;
      } else {
        sum.ops_failed++;
        sum.errors[cls] = (sum.errors[cls] || 0) + 1;
        failsInRow++;
        if (policy.breaker && failsInRow >= 3 && !breakerOpen) {
          breakerOpen = Date.now();
          rec.log({ k: 'breaker', note: 'open' });
        }
      }
      await sleep(interval);
    }
  };

  const portOf = (a) => Number(a.split(':').pop());
  const health = async () => {
    let lastRestart = 0;
    while (!done) {
      await sleep(250);
      if (done) return;
      const res = await client.probe(addrs, 300);
      let failed = false;
      for (const [a, err] of Object.entries(res)) {
        const ok = !err;
        failed = failed || !ok;
        rec.log({ k: 'probe', p: portOf(a), ok });
        sum.probes++;
        if (!ok) sum.probe_failures++;
      }
      if (failed && policy.health === 'restart' && Date.now() - lastRestart >= 3000 && !done) {
        let c;
        try {
          c = await cfg.create(addrs, o.name);
        } catch (e) {
          continue;
        }
        lastRestart = Date.now();
        const old = client;
        client = c;
        old.close().catch(() => {});
        rec.log({ k: 'restart' });
        sum.restarts++;
      }
    }
  };

  const breaker = async () => {
    while (!done) {
      await sleep(1500);
      if (done || !breakerOpen) continue;
      const res = await client.probe(addrs, 1000);
      let all = true;
      for (const [a, err] of Object.entries(res)) {
        all = all && !err;
        rec.log({ k: 'probe', p: portOf(a), ok: !err, note: 'breaker' });
      }
      if (all) {
        sum.breaker_open_ms += Date.now() - breakerOpen;
        breakerOpen = 0;
        failsInRow = 0;
        rec.log({ k: 'breaker', note: 'close' });
      }
    }
  };

  const tasks = [];
  if (client) {
    for (let w = 0; w < workers; w++) tasks.push(worker(w));
    if (policy.health) tasks.push(health());
    if (policy.breaker) tasks.push(breaker());
  }
  await sleep(Math.max(0, giveUp - Date.now()));
  done = true;
  await Promise.race([Promise.allSettled(tasks), sleep(3000)]);
  const now = wire.nowUs();
  for (const s of inflight) {
    if (s) {
      rec.log({ t: now, k: 'op', d: now - s, ok: false, e: 'stuck' });
      sum.stuck++;
      sum.max_op_ms = Math.max(sum.max_op_ms, Math.floor((now - s) / 1000));
    }
  }
  if (breakerOpen) sum.breaker_open_ms += Date.now() - breakerOpen;
  sum.end_us = now;
  rec.close();
  fs.writeFileSync(o.out, JSON.stringify(sum, null, 2) + '\n');
  console.error(`${library}/${o.config}: ${sum.ops_ok} ok, ${sum.ops_failed} failed, errors ${JSON.stringify(sum.errors)}, restarts ${sum.restarts}, retries ${sum.app_retries}`);
  process.exit(0); // connections stuck without a timeout are left behind
}

module.exports = { main, classify, sleep };
