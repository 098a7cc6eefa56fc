import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { Reservations } from '../../src/sale/reservations.js';
import { getInventory } from '../../src/store/inventory.js';
import { newRedis, snapshotSku, testMysql, uniqueSku, runSeckill } from '../helpers.js';

const redis = newRedis();
afterAll(() => redis.quit());

const seckill = (...args: string[]) => runSeckill(args);

describe('seckill preload', () => {
  it('writes the SKU to MySQL and Redis and reports it as JSON', async () => {
    const sku = uniqueSku('preload');
    const run = await seckill('preload', '--sku', sku, '--stock', '42', '--limit', '2', '--ends-at', '2031-01-01T00:00:00Z', '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, skus: [{ sku, stock: 42, limit: 2, endsAt: '2031-01-01T00:00:00.000Z' }] });
    expect(await getInventory(await testMysql(), sku)).toMatchObject({ stock: 42, initialStock: 42, limit: 2, endsAt: Date.parse('2031-01-01T00:00:00Z') });
    expect(await redis.get(skuKeys(sku).stock)).toBe('42');
    expect(await redis.hget(skuKeys(sku).meta, 'limit')).toBe('2');
  });

  it('refuses to overwrite a SKU that has orders, says what it would change, and changes nothing', async () => {
    const sku = uniqueSku('preload-orders');
    expect((await seckill('preload', '--sku', sku, '--stock', '10')).code).toBe(0);
    await new Reservations(redis).reserve({ sku, userId: 'u1', qty: 1 });
    const before = await snapshotSku(redis, sku);

    const refused = await seckill('preload', '--sku', sku, '--stock', '50');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Redis stock 9 → 50');
    expect(refused.stderr).toContain('1 Redis reservations deleted');
    expect(await snapshotSku(redis, sku)).toEqual(before);

    expect((await seckill('preload', '--sku', sku, '--stock', '50', '--reset')).code).toBe(2);
    expect(await snapshotSku(redis, sku)).toEqual(before);

    const reset = await seckill('preload', '--sku', sku, '--stock', '50', '--reset', '--yes', '--json');
    expect(reset.code).toBe(0);
    expect(await redis.get(skuKeys(sku).stock)).toBe('50');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(0);
    expect(await redis.xlen(skuKeys(sku).outbox)).toBe(0);
  });

  it('preloads every SKU of a scenario file', async () => {
    const run = await seckill('preload', '--file', 'scenarios/smoke.json', '--reset', '--yes', '--json');
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { skus: { sku: string }[] }).skus.map((s) => s.sku)).toEqual(['smoke-1']);
  });

  it.each([
    [['preload', '--sku', 'x{y}', '--stock', '1'], '--sku must match'],
    [['preload', '--sku', 'ok', '--stock', '-1'], '--stock must be a whole number'],
    [['preload', '--sku', 'ok', '--stock', '1.5'], '--stock must be a whole number'],
    [['preload', '--sku', 'ok', '--stock', '1', '--starts-at', 'tomorrow'], '--starts-at must be an ISO 8601 time'],
    [['preload', '--stock', '1'], 'give --sku and --stock'],
    [['preload', '--file', 'scenarios/none.json'], 'cannot read scenario'],
    [['preload', '--sku', 'ok', '--stock', '1', '--redis-url', 'http://x'], 'REDIS_URL must start with redis:'],
    [['preload', '--bogus'], "unknown option '--bogus'"],
  ])('refuses bad flags %j with a message and exit code 2', async (args, message) => {
    const run = await seckill(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
