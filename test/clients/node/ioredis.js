'use strict';
// The ioredis conformance app: the shared workload (load.js) on a
// Redis.Cluster configured well or in one of the ways teams get it wrong
// (--config). See docs/clients.md.

const load = require('./load');

// load.main patches net.Socket (wire.js) before the app opens any
// connection: requiring ioredis first is fine.
const Redis = require('ioredis');
const { version } = require('ioredis/package.json');

const seeds = (addrs) => addrs.map((a) => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});

// nodes are the health check's single-node clients, one per address.
function nodeClients(name) {
  const m = new Map();
  return {
    async probe(addrs, timeout) {
      const res = {};
      for (const a of addrs) {
        let n = m.get(a);
        if (!n) {
          const [s] = seeds([a]);
          n = new Redis({ ...s, connectionName: name, connectTimeout: timeout, commandTimeout: timeout,
            maxRetriesPerRequest: 0, enableOfflineQueue: false });
          n.on('error', () => {});
          m.set(a, n);
        }
        try {
          await n.ping();
          res[a] = null;
        } catch (e) {
          res[a] = e;
        }
      }
      return res;
    },
    close() {
      for (const n of m.values()) n.disconnect();
      m.clear();
    },
  };
}

function wrap(c, name) {
  const nodes = nodeClients(name);
  return {
    set: (k, v) => c.set(k, v, 'EX', 60),
    get: (k) => c.get(k),
    incr: (k) => c.incr(k),
    probe: (addrs, timeout) => nodes.probe(addrs, timeout),
    async close() {
      nodes.close();
      c.disconnect();
    },
  };
}

const backoff = (times) => Math.min(100 * 2 ** times, 2000) + Math.floor(Math.random() * 100);

function cluster(tune) {
  return async (addrs, name) => {
    const opts = {
      redisOptions: { connectionName: name, commandTimeout: 1000, connectTimeout: 1000 },
      clusterRetryStrategy: backoff,
    };
    if (tune) tune(opts);
    const c = new Redis.Cluster(seeds(addrs), opts);
    c.on('error', () => {}); // per-command errors are what the app counts
    return wrap(c, name);
  };
}

const configs = {
  good: {
    desc: 'Redis.Cluster, commandTimeout 1 s, connectTimeout 1 s, default retries, clusterRetryStrategy with backoff',
    create: cluster(),
  },
  'no-timeout': {
    desc: 'Redis.Cluster without commandTimeout',
    create: cluster((o) => { delete o.redisOptions.commandTimeout; }),
  },
  'no-resend': {
    desc: 'good Redis.Cluster with autoResendUnfulfilledCommands: false',
    create: cluster((o) => { o.redisOptions.autoResendUnfulfilledCommands = false; }),
  },
  'no-backoff': {
    desc: 'good Redis.Cluster with retryDelayOnTryAgain: 0 and retryDelayOnClusterDown: 0',
    create: cluster((o) => { o.retryDelayOnTryAgain = 0; o.retryDelayOnClusterDown = 0; }),
  },
  'health-restart': {
    desc: 'good Redis.Cluster; a health check PINGs every node every 250 ms and rebuilds the client when one fails',
    policy: { health: 'restart' },
    create: cluster(),
  },
  'reconnect-fast': {
    desc: 'good Redis.Cluster with socketTimeout 500 ms and a retryStrategy that reconnects at once',
    create: cluster((o) => { o.redisOptions.socketTimeout = 500; o.redisOptions.retryStrategy = () => 1; }),
  },
  plain: {
    desc: 'new Redis() (not a cluster client) on the first seed address',
    create: async (addrs, name) => {
      const c = new Redis({ ...seeds(addrs)[0], connectionName: name, commandTimeout: 1000, connectTimeout: 1000 });
      c.on('error', () => {});
      return wrap(c, name);
    },
  },
};

load.main('ioredis', version, configs);
