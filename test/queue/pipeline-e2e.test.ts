import { describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import type { ReservationRecord } from '../../src/sale/reservations.js';
import { preloadSku, startServer, uniqueSku, waitFor } from '../helpers.js';
import { buyMany, mysqlStock, ordersOf, pipelineTestKit, redisStock, startPipeline } from './pipeline-helpers.js';

const { redis, prefix, track, expectOrdersMatchAnswers } = pipelineTestKit();

describe.each(['kafka', 'redis'] as const)('the pipeline with --queue %s', (queue) => {
  it('turns 5,000 buyers of 1,000 units into exactly 1,000 orders: MySQL stock 0, Redis stock 0, every 201 has its order', async () => {
    const sku = uniqueSku(`e2e-${queue}`);
    await preloadSku(redis, { sku, stock: 1_000 });
    const server = track(await startServer());
    track(await startPipeline(queue, prefix()));

    const answers = await buyMany(server.url, sku, 5_000, 100);
    const statuses = answers.reduce<Record<number, number>>((n, a) => ({ ...n, [a.status]: (n[a.status] ?? 0) + 1 }), {});
    expect(statuses).toEqual({ 201: 1_000, 410: 4_000 });

    await waitFor(async () => (await ordersOf(sku)).length >= 1_000, 60_000, '1,000 orders in MySQL');
    await expectOrdersMatchAnswers(sku, answers);
    expect(await mysqlStock(sku)).toBe(0);
    expect(await redisStock(sku)).toBe(0);
    // Every reservation is marked persisted in Redis: nothing left in flight.
    await waitFor(
      async () => Object.values(await redis.hgetall(skuKeys(sku).reservations)).every((r) => (JSON.parse(r) as ReservationRecord).persistedAt),
      10_000,
      'reservations marked persisted',
    );
  });
});
