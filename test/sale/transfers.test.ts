import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { defineScript } from '../../src/redis/scripts.js';
import { StockTransfers, type TransferRecord } from '../../src/sale/transfers.js';
import { newRedis, preloadSku, uniqueSku } from '../helpers.js';

/** Moving units between the buckets of a hot SKU, when a client sends a step twice. */

const redis = newRedis();
afterAll(() => redis.quit());

describe('a transfer step run twice (a client resending it after a reconnect)', () => {
  it('debits the donor once, also when the resend comes after the transfer finished and its record is gone', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('transfer-twice'), stock: 20, buckets: 2 });
    const transferOut = defineScript(redis, 'transfer-out');
    const donor = skuKeys(sku, 0);
    const record: TransferRecord = { id: 'resent-1', from: 0, to: 1, units: 4, at: Date.now() };
    const send = () => transferOut([donor.stock, donor.meta, donor.transfers, donor.sentTransfers], [record.id, record.to, record.units, record.at]);
    expect(await send()).toEqual(['SENT', 4, 6]);
    expect(await send()).toEqual(['SENT', 4, 6]);
    expect(await redis.get(donor.stock)).toBe('6');
    expect(await redis.hget(donor.meta, 'sent')).toBe('4');

    await new StockTransfers(redis).finish(sku, record);
    expect(await redis.hlen(donor.transfers)).toBe(0);
    expect(await send()).toEqual(['SENT', 4, 6]);
    expect(await redis.get(donor.stock)).toBe('6');
    expect(await redis.get(skuKeys(sku, 1).stock)).toBe('14');
  });
});
