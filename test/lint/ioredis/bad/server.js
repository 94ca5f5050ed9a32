const Redis = require("ioredis");

const cluster = new Redis.Cluster(
  [{ host: "10.0.0.1", port: 7000 }],
  {
    maxRedirections: 0,
    redisOptions: {
      autoResendUnfulfilledCommands: true,
    },
  },
);

module.exports = cluster;
