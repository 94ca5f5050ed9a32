const { createCluster } = require('redis');

async function main() {
  // createCluster() without socketTimeout hangs on a hung node: set it.
  const cluster = createCluster({
    rootNodes: [{ url: 'redis://10.0.0.1:7000' }],
    defaults: {
      socket: { connectTimeout: 5000, socketTimeout: 5000 },
      commandsQueueMaxLength: 1000,
    },
  });
  await cluster.connect();
  await cluster.incr('orders');
}

main();
