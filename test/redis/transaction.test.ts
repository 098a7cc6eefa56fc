import { afterAll, describe, expect, it } from 'vitest';
import { execAll } from '../../src/redis/transaction.js';
import { newRedis, uniqueSku } from '../helpers.js';

const redis = newRedis();
afterAll(() => redis.quit());

describe('execAll', () => {
  it('returns every reply of a MULTI', async () => {
    const key = uniqueSku('tx');
    expect(await execAll(redis.multi().set(key, '1').incr(key).get(key))).toEqual(['OK', 2, '2']);
  });

  it('throws when one command of the MULTI failed, where a bare exec() would resolve as if all were done', async () => {
    const key = uniqueSku('tx-fail');
    await redis.set(key, 'a string');
    // HSET on a string fails inside EXEC; the SET after it still runs (Redis has no rollback).
    const bare = await redis.multi().hset(key, 'f', 'v').set(`${key}-2`, 'x').exec();
    expect(bare![0][0]).toBeInstanceOf(Error);
    await expect(execAll(redis.multi().hset(key, 'f', 'v').set(`${key}-3`, 'x'))).rejects.toThrow(/WRONGTYPE/);
  });
});
