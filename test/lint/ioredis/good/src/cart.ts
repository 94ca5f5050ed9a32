import { Cluster } from "ioredis";

export const cluster = new Cluster([{ host: "10.0.0.1", port: 7000 }], {
  maxRedirections: 16,
  redisOptions: {
    connectTimeout: 2000,
    commandTimeout: 2000,
    autoResendUnfulfilledCommands: false,
  },
});
