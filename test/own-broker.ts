import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

/**
 * A Kafka broker of a test's own, run by `seckill kafka` from a state dir of
 * its own: what a test stops and starts (bench's stop-kafka fault, a broker
 * restart) is never the suite's shared broker, pulled from under the others.
 */
export interface OwnBroker {
  /** KAFKA_BROKERS for it */
  brokers: string;
  /** SECKILL_KAFKA_DIR for it: bench's stop-kafka fault may stop a broker run from there */
  dir: string;
  /** stops it and deletes its state */
  remove(): Promise<void>;
}

const kafkaCli = (dir: string, ...args: string[]) =>
  promisify(execFile)(process.execPath, ['bin/seckill', 'kafka', ...args, '--dir', dir], { env: { ...process.env, KAFKA_BROKERS: '' }, timeout: 120_000 });

/** A free port whose next port is free too: the local broker's controller listens on port + 1. */
const freePortPair = async (): Promise<number> => {
  const listen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => {
        const { port: bound } = server.address() as { port: number };
        server.close(() => resolve(bound));
      });
    });
  for (;;) {
    const port = await listen(0);
    if (port !== null && port < 65_535 && (await listen(port + 1)) !== null) return port;
  }
};

export const startOwnBroker = async (name: string): Promise<OwnBroker> => {
  const dir = `.seckill/kafka-${name}`;
  const port = await freePortPair();
  await kafkaCli(dir, 'start', '--port', String(port), '--json');
  return {
    brokers: `127.0.0.1:${port}`,
    dir,
    remove: async () => {
      await kafkaCli(dir, 'stop');
      await rm(dir, { recursive: true, force: true });
    },
  };
};
