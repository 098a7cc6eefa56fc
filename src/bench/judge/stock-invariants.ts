/** The invariants of the stock: never oversold, conserved between the stores, sold out only when it is, sold only inside the window, the per-user limit. */
import { driftOf, inFlightUnits, isLive, liveUnits, unitsOf } from '../../sale/state.js';
import type { InvariantResult, SaleState } from './judged-sale.js';
import { verdict, sumOver, groupBy, signed } from './verdict.js';

export function noOversell(state: SaleState): InvariantResult {
  const oversold: string[] = [];
  const negativeMysql: string[] = [];
  const negativeRedis: string[] = [];
  for (const sku of state.skus) {
    const live = liveUnits(sku);
    if (live > sku.initialStock) oversold.push(`${sku.sku} (${live} live units > ${sku.initialStock} initial)`);
    if (sku.mysqlStock < 0) negativeMysql.push(`${sku.sku} (MySQL stock ${sku.mysqlStock})`);
    if (sku.redisStock !== null && sku.redisStock < 0) negativeRedis.push(`${sku.sku} (Redis stock ${sku.redisStock})`);
  }
  return verdict(
    'no-oversell',
    [
      { what: 'SKUs sold past their initial stock', ids: oversold },
      { what: 'SKUs with negative MySQL stock', ids: negativeMysql },
      { what: 'SKUs with negative Redis stock', ids: negativeRedis },
    ],
    `${state.skus.length} SKUs, ${sumOver(state.skus, liveUnits)} live units sold of ${sumOver(state.skus, (sku) => sku.initialStock)}`,
  );
}

export function stockConserved(state: SaleState): InvariantResult {
  const unbalanced: string[] = [];
  for (const sku of state.skus) {
    const live = liveUnits(sku);
    if (sku.initialStock !== sku.mysqlStock + live) {
      unbalanced.push(`${sku.sku} (initial ${sku.initialStock} != MySQL ${sku.mysqlStock} + live ${live})`);
    }
  }
  return verdict(
    'stock-conserved',
    [{ what: 'SKUs whose initial stock is not MySQL stock plus live orders', ids: unbalanced }],
    `${state.skus.length} SKUs, initial stock = MySQL stock + live orders`,
  );
}

export function noDrift(state: SaleState): InvariantResult {
  const name = 'no-drift';
  if (!state.usesRedis) return { name, ok: true, detail: 'not applicable: no Redis' };
  const drifted: string[] = [];
  const unread: string[] = [];
  for (const sku of state.skus) {
    const drift = driftOf(sku);
    if (drift === null) unread.push(sku.sku);
    else if (drift !== 0)
      drifted.push(`${sku.sku} (drift ${signed(drift)}: Redis ${sku.redisStock} + in-flight ${inFlightUnits(sku)} vs MySQL ${sku.mysqlStock})`);
  }
  return verdict(
    name,
    [
      { what: 'SKUs where Redis stock + in-flight != MySQL stock', ids: drifted },
      { what: 'SKUs with no Redis stock read', ids: unread },
    ],
    `${state.skus.length} SKUs, drift 0 (${sumOver(state.skus, inFlightUnits)} units in flight)`,
  );
}

export function perUserLimit(state: SaleState): InvariantResult {
  const overLimit: string[] = [];
  let holders = 0;
  for (const sku of state.skus) {
    for (const [userId, orders] of groupBy(sku.orders.filter(isLive), (order) => order.userId)) {
      holders += 1;
      const units = unitsOf(orders);
      if (units > sku.limit) {
        const orderIds = orders.map((order) => order.orderId).join(', ');
        overLimit.push(`${userId} on ${sku.sku} (${orderIds}: ${units} units, limit ${sku.limit})`);
      }
    }
  }
  return verdict(
    'per-user-limit',
    [{ what: 'users holding more units than the per-user limit in live orders', ids: overLimit }],
    `${holders} buyer-SKU pairs, each within the limit in units`,
  );
}

export function soldOutWhenExpected(state: SaleState): InvariantResult {
  const expected = state.skus.filter((sku) => sku.expectSellOut);
  const leftOver = expected
    .filter((sku) => sku.mysqlStock !== 0 || (sku.redisStock !== null && sku.redisStock !== 0))
    .map((sku) => `${sku.sku} (MySQL ${sku.mysqlStock}, Redis ${sku.redisStock ?? 'n/a'} left)`);
  return verdict(
    'sold-out-when-expected',
    [{ what: 'SKUs expected to sell out with stock left', ids: leftOver }],
    expected.length === 0 ? 'no SKU expected to sell out' : `${expected.length} SKUs expected to sell out, all did`,
  );
}

/**
 * Where buyers were refused with 429 ADMISSION_CLOSED, no unit was left
 * unsold: admission may turn buyers away only while every unit is taken.
 */
export function noUnitUnsoldWhileRefused(state: SaleState): InvariantResult {
  const refused = state.admissionClosed ?? {};
  const stranded = state.skus
    .filter((sku) => (refused[sku.sku] ?? 0) > 0 && (sku.mysqlStock > 0 || (sku.redisStock ?? 0) > 0))
    .map((sku) => `${sku.sku} (${refused[sku.sku]} refused 429 ADMISSION_CLOSED, MySQL ${sku.mysqlStock}, Redis ${sku.redisStock ?? 'n/a'} left)`);
  const skusRefused = state.skus.filter((sku) => (refused[sku.sku] ?? 0) > 0).length;
  return verdict(
    'no-unit-unsold-while-refused',
    [{ what: 'SKUs that refused buyers with 429 and still have units', ids: stranded }],
    skusRefused === 0 ? 'no buyer refused with 429 ADMISSION_CLOSED' : `${skusRefused} SKUs refused buyers with 429, each sold every unit`,
  );
}

/**
 * Every order was made inside its SKU's sale window: its created_at (Redis's
 * TIME when reserve.lua ran) lies in [startsAt, endsAt). The window is judged
 * on that one clock, so gateways whose clocks are off sell nothing before the
 * opening or after the end.
 */
export function soldWithinWindow(state: SaleState): InvariantResult {
  const windowed = state.skus.filter((sku) => (sku.startsAt ?? null) !== null || (sku.endsAt ?? null) !== null);
  const early: string[] = [];
  const late: string[] = [];
  let judged = 0;
  for (const sku of windowed) {
    for (const order of sku.orders) {
      if (order.createdAt === undefined) continue;
      judged += 1;
      if (sku.startsAt != null && order.createdAt < sku.startsAt)
        early.push(`${order.orderId} (${sku.sku}, ${sku.startsAt - order.createdAt} ms before the opening)`);
      else if (sku.endsAt != null && order.createdAt >= sku.endsAt)
        late.push(`${order.orderId} (${sku.sku}, ${order.createdAt - sku.endsAt} ms after the end)`);
    }
  }
  return verdict(
    'sold-within-window',
    [
      { what: 'orders made before their sale opened', ids: early },
      { what: 'orders made once their sale had ended', ids: late },
    ],
    windowed.length === 0 ? 'no SKU with a sale window' : `${windowed.length} SKUs with a sale window, all ${judged} orders made inside it`,
  );
}
