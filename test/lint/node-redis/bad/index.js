const { createCluster } = require('redis');

async function main() {
  const cluster = createCluster({
    rootNodes: [{ url: 'redis://10.0.0.1:7000' }],
    defaults: {
      socket: { connectTimeout: 5000 },
    },
  });
  await cluster.connect();
  await cluster.incr('orders');
}

main();
