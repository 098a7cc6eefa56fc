import { afterAll, describe, expect, it } from 'vitest';
import { rateLimitKey } from '../../src/redis/keys.js';
import { RatePermits } from '../../src/sale/rate-permits.js';
import { newRedis } from '../helpers.js';

/**
 * take-rate-permits.lua through its wrapper, on the real Redis. A slow rate
 * (10 permits a second, 0.01 a ms) keeps the refill during a test small and
 * measured. Each test owns its pool by its burst, and starts it full by
 * deleting it.
 */

const redis = newRedis();
afterAll(() => redis.disconnect());

const rate = 10;
const fullLease = 5;

/** A fresh, full pool of its own, and the clock to bound its refill by. */
const freshBucket = async (burst: number) => {
  await redis.del(rateLimitKey(rate, burst));
  const startedAt = performance.now();
  return {
    permits: new RatePermits(redis, rate, burst, fullLease),
    /** the most the pool can have refilled since it was fresh */
    refilledAtMost: () => Math.ceil(((performance.now() - startedAt) * rate) / 1000),
    storedPermits: async () => Number(await redis.hget(rateLimitKey(rate, burst), 'permits')),
  };
};

describe('take-rate-permits.lua', () => {
  it('takes back the unspent rest of a lease, so a later lease can have it', async () => {
    const pool = await freshBucket(101);
    expect((await pool.permits.lease(101, 0)).granted).toBe(101);

    const { granted } = await pool.permits.lease(101, 30);
    expect(granted).toBeGreaterThanOrEqual(30);
    expect(granted).toBeLessThanOrEqual(30 + pool.refilledAtMost());
  });

  it('never fills the pool past burst with what is handed back, so old permits cannot make a burst larger', async () => {
    const pool = await freshBucket(102);
    expect((await pool.permits.lease(50, 0)).granted).toBe(50);

    expect((await pool.permits.lease(0, 1_000)).granted).toBe(0);
    expect(await pool.storedPermits()).toBe(102);
    expect((await pool.permits.lease(1_000, 0)).granted).toBe(102);
  });

  it('says how long until the pool holds a full lease once it is short of the lease asked for, and 0 while it is not', async () => {
    const pool = await freshBucket(103);
    // A full pool still holds another lease of 1 after granting one.
    expect(await pool.permits.lease(1, 0)).toEqual({ granted: 1, msUntilLease: 0 });
    expect((await pool.permits.lease(1_000, 0)).granted).toBe(102);

    // Short of 1 permit (refilled in 100 ms): the wait is for a full lease of 5, about 500 ms, so a short
    // pool costs a process about one call per full lease's refill, whatever its own lease size.
    const short = await pool.permits.lease(1, 0);
    expect(short.granted).toBe(0);
    expect(short.msUntilLease).toBeGreaterThan(((fullLease - 1) * 1000) / rate);
    expect(short.msUntilLease).toBeLessThanOrEqual((fullLease * 1000) / rate);
  });
});
