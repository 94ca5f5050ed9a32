'use strict';
// The node-redis conformance app: the shared workload (load.js) on a
// createCluster client configured well or in one of the ways teams get it
// wrong (--config). See docs/clients.md.

const load = require('./load');

// load.main patches net.Socket (wire.js) before the app opens any
// connection: requiring redis first is fine.
const { createClient, createCluster } = require('redis');
const { version } = require('@redis/client/package.json');

const url = (a) => `redis://${a}`;
const backoff = (retries) => Math.min(2 ** retries * 50, 2000) + Math.floor(Math.random() * 100);

// nodes are the health check's single-node clients, one per address.
function nodeClients(name) {
  const m = new Map();
  return {
    async probe(addrs, timeout) {
      const res = {};
      for (const a of addrs) {
        try {
          let n = m.get(a);
          if (!n) {
            n = createClient({ url: url(a), name, socket: { connectTimeout: timeout, socketTimeout: timeout, reconnectStrategy: false } });
            n.on('error', () => {});
            m.set(a, n);
            await n.connect();
          }
          await Promise.race([n.ping(), load.sleep(timeout).then(() => { throw new Error('probe timeout'); })]);
          res[a] = null;
        } catch (e) {
          const n = m.get(a);
          m.delete(a);
          if (n) n.destroy();
          res[a] = e;
        }
      }
      return res;
    },
    close() {
      for (const n of m.values()) n.destroy();
      m.clear();
    },
  };
}

function wrap(c, name) {
  const nodes = nodeClients(name);
  return {
    set: (k, v) => c.set(k, v, { EX: 60 }),
    get: (k) => c.get(k),
    incr: (k) => c.incr(k),
    probe: (addrs, timeout) => nodes.probe(addrs, timeout),
    async close() {
      nodes.close();
      c.destroy();
    },
  };
}

function cluster(tune) {
  return async (addrs, name) => {
    const opts = {
      rootNodes: addrs.map((a) => ({ url: url(a) })),
      defaults: { name, socket: { connectTimeout: 1000, socketTimeout: 1000, reconnectStrategy: backoff } },
    };
    if (tune) tune(opts);
    const c = createCluster(opts);
    c.on('error', () => {}); // per-command errors are what the app counts
    await c.connect();
    return wrap(c, name);
  };
}

const configs = {
  good: {
    desc: 'createCluster, socketTimeout 1 s, connectTimeout 1 s, reconnectStrategy with backoff',
    create: cluster(),
  },
  'no-timeout': {
    desc: 'createCluster without socketTimeout',
    create: cluster((o) => { delete o.defaults.socket.socketTimeout; }),
  },
  'retry-loop': {
    desc: 'good createCluster, and the app resends every failed command at once (up to 20 times)',
    policy: { retry: true },
    create: cluster(),
  },
  'health-restart': {
    desc: 'good createCluster; a health check PINGs every node every 250 ms and rebuilds the client when one fails',
    policy: { health: 'restart' },
    create: cluster(),
  },
  'reconnect-fast': {
    desc: 'createCluster with socketTimeout 500 ms and reconnectStrategy: () => 0 (reconnect at once)',
    create: cluster((o) => { o.defaults.socket.socketTimeout = 500; o.defaults.socket.reconnectStrategy = () => 0; }),
  },
  plain: {
    desc: 'createClient (not a cluster client) on the first seed address',
    create: async (addrs, name) => {
      const c = createClient({ url: url(addrs[0]), name, socket: { connectTimeout: 1000, socketTimeout: 1000, reconnectStrategy: backoff } });
      c.on('error', () => {});
      await c.connect();
      return wrap(c, name);
    },
  },
};

load.main('node-redis', version, configs);
