import { describe, expect, it } from 'vitest';
import type { Told } from '../../src/lab/sale/crowd.js';
import { brokenIn, drawLabRow } from '../../src/lab/sale/campaign.js';
import { judgeLabSale, type OrderRow } from '../../src/lab/sale/verdict.js';

/** The verdict of a lab run, on histories made by hand: each way a sale can lie is caught, and a whole sale passes. */
const STRUCK = 10_000;
const told = (i: number, outcome: string, at: number, orderId: string | null = outcome === 'OK' ? `o${i}` : null): Told => ({
  userId: `u${i}`,
  requestId: `r${i}`,
  outcome,
  orderId,
  at,
  sentAt: at - 5,
  attempts: 1,
});
const order = (i: number, status = 'PENDING'): OrderRow => ({ orderId: `o${i}`, requestId: `r${i}`, userId: `u${i}`, qty: 1, status });

describe('the verdict of a lab sale', () => {
  it('passes a sale where every order told is in MySQL and every unit is sold', () => {
    const history = [told(1, 'OK', 9_000), told(2, 'OK', 11_000), told(3, 'OK', 14_000), told(4, 'SOLD_OUT', 15_000)];
    const verdict = judgeLabSale(history, [order(1), order(2), order(3)], 3, STRUCK);
    expect(verdict).toMatchObject({ toldAnOrder: 3, toldNotInMysql: [], inMysqlNotTold: [], oversold: 0, refusedWithStockLeft: 0, gaveUp: 0 });
    // From the strike (10 s) the 201s came at 11 s and 14 s: the longest stop is 3 s.
    expect(verdict.secondsToSellAgain).toBe(3);
  });

  it('counts a retry answered DUPLICATE with its order as selling again: with replica acks the buys made during a partition are told once it heals', () => {
    const history = [told(1, 'OK', 10_500), told(2, 'DUPLICATE', 18_000, 'o2'), told(3, 'SOLD_OUT', 18_500)];
    expect(judgeLabSale(history, [order(1), order(2)], 2, STRUCK).secondsToSellAgain).toBe(7.5);
  });

  it('names a buyer told an order MySQL never got, and an order in MySQL no buyer was told', () => {
    const verdict = judgeLabSale([told(1, 'OK', 9_000), told(2, 'OK', 11_000), told(3, 'GAVE_UP', 12_000)], [order(1), order(3)], 3, STRUCK);
    expect(verdict.toldNotInMysql).toEqual(['o2']);
    expect(verdict.inMysqlNotTold).toEqual(['o3']);
    expect(verdict.untoldBuyersWereTold).toEqual({ GAVE_UP: 1 });
    expect(verdict.gaveUp).toBe(1);
  });

  it('counts a DUPLICATE or LIMIT naming the order as told; a cancelled order is not live', () => {
    const history = [told(1, 'DUPLICATE', 9_000, 'o1'), told(2, 'LIMIT', 9_000, 'o2')];
    expect(judgeLabSale(history, [order(1), order(2)], 2, STRUCK)).toMatchObject({ toldNotInMysql: [], inMysqlNotTold: [] });
    expect(judgeLabSale(history, [order(1), order(2, 'CANCELLED')], 2, STRUCK).toldNotInMysql).toEqual(['o2']);
  });

  it('counts units beyond the stock, and SOLD_OUT told while units were left', () => {
    expect(judgeLabSale([told(1, 'OK', 1), told(2, 'OK', 2)], [order(1), order(2)], 1, STRUCK).oversold).toBe(1);
    expect(judgeLabSale([told(1, 'OK', 1), told(2, 'SOLD_OUT', 2)], [order(1)], 2, STRUCK).refusedWithStockLeft).toBe(1);
    expect(judgeLabSale([told(1, 'OK', 1)], [order(1)], 1, STRUCK).secondsToSellAgain).toBeNull();
  });

  it('breaks a row on each lie, and on drift left after reconcile --fix', () => {
    const whole = {
      ...judgeLabSale([told(1, 'OK', 11_000)], [order(1)], 1, STRUCK),
      fault: 'f',
      strikeAtMs: 4_000,
      healAfterMs: 8_000,
      replicaAcks: 1,
      stock: 1,
      driftAfterFix: 0,
      fixed: [],
      retried: {},
    };
    expect(brokenIn(whole)).toEqual([]);
    expect(brokenIn({ ...whole, toldNotInMysql: ['o9'] })).toEqual(['1 buyer(s) told an order MySQL never got']);
    expect(brokenIn({ ...whole, driftAfterFix: 3 })).toEqual(['drift 3 after reconcile --fix']);
    expect(brokenIn({ ...whole, oversold: 2, inMysqlNotTold: ['o7'], untoldBuyersWereTold: { GAVE_UP: 1 } })).toEqual([
      '1 order(s) in MySQL never told to their buyer (who were told GAVE_UP ×1)',
      '2 unit(s) sold beyond the stock',
    ]);
  });
});

describe('a lab chaos campaign', () => {
  const FAULTS = ['master-partition', 'gateway-crash', 'mysql-restart'];

  it('draws the same fault and timing again from the same seed, so a broken row can be run again', () => {
    expect(drawLabRow(FAULTS, 7, 20_000)).toEqual(drawLabRow(FAULTS, 7, 20_000));
  });

  it('draws every fault asked over a few seeds, each striking in the first half of the arrivals and healing within 2–12 s', () => {
    const rows = Array.from({ length: 30 }, (_, i) => drawLabRow(FAULTS, i + 1, 20_000));
    expect(new Set(rows.map((r) => r.fault))).toEqual(new Set(FAULTS));
    for (const r of rows) {
      expect(r.strikeAtMs).toBeGreaterThanOrEqual(1_000);
      expect(r.strikeAtMs).toBeLessThanOrEqual(10_000);
      expect(r.healAfterMs).toBeGreaterThanOrEqual(2_000);
      expect(r.healAfterMs).toBeLessThanOrEqual(12_000);
    }
  });
});
