import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectKafka } from '../../src/queue/kafka.js';
import { TOPICS } from '../../src/queue/names.js';
import { isAlive, waitFor } from '../helpers.js';

/**
 * The local broker runner, through the built CLI (`npm test` builds first) as
 * an operator would use it. Its own port and state dir, so it does not collide
 * with a broker the rest of the suite runs on 9092.
 */
const PORT = 19092;
const DIR = '.seckill/kafka-test-broker';
const ADDRESS = `127.0.0.1:${PORT}`;
// The runner must start its own broker even where the suite is pointed at a cluster.
const { KAFKA_BROKERS: _given, ...env } = process.env;

const seckillKafka = async <T>(...args: string[]): Promise<T> => {
  const { stdout } = await promisify(execFile)(process.execPath, ['bin/seckill', 'kafka', ...args, '--dir', DIR, '--json'], { env });
  return JSON.parse(stdout) as T;
};

interface Status {
  running: boolean;
  pid: number | null;
  address: string;
}

const portAccepts = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

describe('seckill kafka start|status|stop (local KRaft broker)', () => {
  let started: Status & { alreadyRunning: boolean; readyMs: number };

  beforeAll(async () => {
    // A broker left by an aborted earlier run would make "started" read "already running".
    await seckillKafka('stop');
    // The first run on a machine also fetches the jars (~15 s from Maven Central).
    started = await seckillKafka('start', '--port', String(PORT));
  }, 180_000);

  afterAll(async () => {
    await seckillKafka('stop');
  }, 60_000);

  it("starts a broker that answers only once it is ready: the Kafka adapter's producer and consumer pass one message on fresh topics", async () => {
    expect(started).toMatchObject({ running: true, alreadyRunning: false, address: ADDRESS });
    expect(started.readyMs).toBeLessThan(60_000);

    const kafka = await connectKafka({
      clientId: 'broker-test',
      brokers: [ADDRESS],
      partitions: 1,
      topicPrefix: `t-broker-${randomBytes(4).toString('hex')}.`,
      sessionTimeoutMs: 6_000,
      concurrency: 1,
      lingerMs: 0,
    });
    try {
      const received: string[] = [];
      await kafka.subscribe(TOPICS.orders, 'broker-test', (batch) => {
        received.push(...batch.values);
        return Promise.resolve();
      });
      await kafka.publish(TOPICS.orders, [{ key: 'sku-1', value: 'order-1' }]);
      await waitFor(() => received.length > 0, 30_000, 'the consumer to receive the message');
      expect(received).toEqual(['order-1']);
    } finally {
      await kafka.close();
    }
  });

  it('a second start says already running and leaves the same process in place', async () => {
    const again = await seckillKafka<Status & { alreadyRunning: boolean }>('start', '--port', String(PORT));
    expect(again).toMatchObject({ running: true, alreadyRunning: true, pid: started.pid });
  });

  it('status reports the running broker with its pid and address', async () => {
    expect(await seckillKafka<Status>('status')).toMatchObject({ running: true, pid: started.pid, address: ADDRESS });
  });

  it('stop ends the process and closes the port; stopping again says it was not running', async () => {
    expect(await seckillKafka('stop')).toMatchObject({ wasRunning: true, pid: started.pid });
    expect(isAlive(started.pid!)).toBe(false);
    await waitFor(async () => !(await portAccepts(PORT)), 10_000, `port ${PORT} to close`);
    expect(await seckillKafka('status')).toMatchObject({ running: false, pid: null });
    expect(await seckillKafka('stop')).toMatchObject({ wasRunning: false });
  });
});
