import { createServer } from 'node:net';

/**
 * A TCP port nobody listens on right now, for a process bench must be able
 * to restart on the same address (the server behind autocannon, its own Redis).
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
