import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { GROUPS } from '../../src/queue/names.js';
import { skuKeys } from '../../src/redis/keys.js';
import { Reservations } from '../../src/sale/reservations.js';
import { preloadSku, startSeckill, uniqueSku, waitFor } from '../helpers.js';
import { ordersOf, pipelineTestKit } from './pipeline-helpers.js';

/** The life of a `seckill consume --queue redis` process: how it stops. */

const { redis, track } = pipelineTestKit();

describe('seckill consume --queue redis on SIGTERM', () => {
  it('leaves the consumer group of the outbox it read before it closes Redis: exits 0, no member left behind, no "could not leave group"', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('consume-sigterm'), stock: 10 });
    const { orderId } = await new Reservations(redis).reserve({ sku, userId: 'u1', qty: 1 });
    const consumer = track(await startSeckill('consume', ['--queue', 'redis', '--concurrency', '2']));
    // Each of its readers is a member of the group, named host-pid-reader.
    const names = [0, 1].map((i) => `${hostname()}-${consumer.process.pid}-${i}`);
    const outbox = skuKeys(sku).outbox;
    const members = async () =>
      ((await redis.xinfo('CONSUMERS', outbox, GROUPS.orders)) as (string | number)[][]).map((row) => String(row[row.indexOf('name') + 1]));
    const joined = async () => {
      const now = await members();
      return names.every((name) => now.includes(name));
    };
    // The order written (so no reader holds an entry it would have to keep its membership for) and both readers in the group.
    await waitFor(
      async () => (await ordersOf(sku)).some((o) => o.order_id === orderId) && (await joined()),
      15_000,
      'the order in MySQL and both readers in the outbox group',
    );

    expect(await consumer.stop('SIGTERM')).toBe(0);
    expect((await members()).filter((name) => names.includes(name))).toEqual([]);
    expect(consumer.stderr()).not.toContain('could not leave group');
  });
});
