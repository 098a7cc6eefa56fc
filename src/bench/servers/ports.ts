import { createServer } from 'node:net';

/**
 * Ports below Linux's ephemeral range (32768–60999 by default). A port the
 * kernel hands a listener for port 0 comes from that range, from which every
 * outgoing connection on the machine (load generator, Kafka, MySQL clients)
 * also takes its local port: while a killed server is down, one of them may
 * be given its port, and the restarted server would find it taken. Below the
 * range only a listener takes a port.
 */
const LOW = 20_000;
const HIGH = 32_767;
const ATTEMPTS = 50;

const listensOn = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A TCP port nobody listens on right now, outside the ephemeral range, for a
 * process bench must be able to restart on the same address (the server
 * behind autocannon, its own Redis, the workers of serve --port 0).
 */
export const freePort = async (): Promise<number> => {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (await listensOn(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after ${ATTEMPTS} tries`);
};
