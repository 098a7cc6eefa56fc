import { driftOf, inFlightUnits, isLive, liveUnits, unitsOf, type ReservationFact } from '../sale/state.js';
import type { InvariantResult, JudgedSku, SaleState } from './judged-sale.js';

/** Enough ids to start digging from; a broken run can have thousands, and the detail must stay one readable line. */
const MAX_IDS_SHOWN = 5;

/** HTTP status of an accepted buy: the only answer that promises the buyer an order. */
const CREATED = 201;

/**
 * Checks the drained sale against every invariant (docs/bench.md lists them), in a fixed
 * order so reports and CI logs line up run to run. Pure: the caller reads
 * Redis and MySQL, this only judges.
 */
export function checkInvariants(state: SaleState): InvariantResult[] {
  return [
    everyCreatedHasOneOrder(state),
    everyOrderTold(state),
    noOversell(state),
    stockConserved(state),
    noDrift(state),
    perUserLimit(state),
    uniqueOrderIds(state),
    idempotentAnswers(state),
    soldOutWhenExpected(state),
    noUnitUnsoldWhileRefused(state),
    soldWithinWindow(state),
  ];
}

// ── the invariants ────────────────────────────────────────────────────────────

function everyCreatedHasOneOrder(state: SaleState): InvariantResult {
  const skus = skusByName(state);
  const missing: string[] = [];
  const severalRows: string[] = [];
  const releasedTwice: string[] = [];
  let withOrder = 0;
  let withRelease = 0;
  for (const [skuName, orderIds] of createdOrderIdsBySku(state)) {
    const sku = skus.get(skuName);
    const orderRows = countBy(sku?.orders ?? [], (order) => order.orderId);
    // Without Redis there is no reservation to release, so a missing row cannot be excused.
    const reservations = state.usesRedis ? (sku?.reservations ?? []) : [];
    const releases = countBy(reservations.filter(isReleasedWithReason), (reservation) => reservation.orderId);
    for (const orderId of orderIds) {
      const rows = orderRows.get(orderId) ?? 0;
      const released = releases.get(orderId) ?? 0;
      if (rows > 1) severalRows.push(orderId);
      else if (rows === 1) withOrder += 1;
      else if (released === 1) withRelease += 1;
      else if (released > 1) releasedTwice.push(orderId);
      else missing.push(orderId);
    }
  }
  return verdict(
    'every-201-has-one-order',
    [
      { what: state.usesRedis ? 'answered 201 with neither an order nor a release' : 'answered 201 without an order', ids: missing },
      { what: 'answered 201 with more than one order row', ids: severalRows },
      { what: 'answered 201 and released more than once', ids: releasedTwice },
    ],
    `${withOrder + withRelease} answered 201: ${withOrder} with one order, ${withRelease} released with a reason`,
  );
}

/**
 * Every order in MySQL was told to its buyer: answered 201, or its order id
 * given on a retry (409) — a buyer whose reply was lost and who retried with
 * the same request id must learn the order it holds. Only a request whose
 * outcome was never read (cut when the load stopped, by a fault, or a retry
 * that got no answer either) may rightly have an order nobody was told of.
 */
function everyOrderTold(state: SaleState): InvariantResult {
  const told = new Set(state.answers.map((answer) => answer.orderId));
  // A set, so an untold id written on two rows is named once (unique-order-ids reports the second row).
  const untold = new Set<string>();
  const unread = new Set((state.unread ?? []).map((r) => `${r.sku}/${r.userId}/${r.requestId}`));
  let orders = 0;
  let unreadOrders = 0;
  for (const sku of state.skus) {
    for (const order of sku.orders) {
      orders += 1;
      if (told.has(order.orderId)) continue;
      if (order.requestId && unread.has(`${sku.sku}/${order.userId}/${order.requestId}`)) unreadOrders += 1;
      else untold.add(order.orderId);
    }
  }
  return verdict(
    'every-order-told',
    [{ what: 'orders in MySQL whose buyer was never told the order id (no 201, no retry answered with it)', ids: [...untold] }],
    unreadOrders === 0
      ? `${orders} orders, each told to its buyer`
      : `${orders} orders: ${orders - unreadOrders} told to their buyer, ${unreadOrders} for requests whose answer was never read (cut when the load stopped or by a fault)`,
  );
}

function noOversell(state: SaleState): InvariantResult {
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

function stockConserved(state: SaleState): InvariantResult {
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

function noDrift(state: SaleState): InvariantResult {
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

function perUserLimit(state: SaleState): InvariantResult {
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

function uniqueOrderIds(state: SaleState): InvariantResult {
  const allOrders = state.skus.flatMap((sku) => sku.orders);
  const rows = countBy(allOrders, (order) => order.orderId);
  const repeated = [...rows].filter(([, count]) => count > 1).map(([orderId, count]) => `${orderId} (x${count})`);
  return verdict('unique-order-ids', [{ what: 'order ids on more than one MySQL row', ids: repeated }], `${rows.size} order ids, all distinct`);
}

function idempotentAnswers(state: SaleState): InvariantResult {
  const byRequest = groupBy(state.answers, (answer) => JSON.stringify([answer.sku, answer.userId, answer.requestId]));
  const inconsistent: string[] = [];
  let repeated = 0;
  for (const answers of byRequest.values()) {
    if (answers.length < 2) continue;
    repeated += 1;
    const orderIds = new Set(answers.map((answer) => answer.orderId));
    if (orderIds.size > 1) {
      const { sku, userId, requestId } = answers[0];
      inconsistent.push(`${requestId} (${userId} on ${sku}: ${[...orderIds].join(', ')})`);
    }
  }
  return verdict(
    'idempotent-answers',
    [{ what: 'request ids answered with different order ids', ids: inconsistent }],
    `${repeated} request ids answered more than once, each with one order id`,
  );
}

function soldOutWhenExpected(state: SaleState): InvariantResult {
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
function noUnitUnsoldWhileRefused(state: SaleState): InvariantResult {
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
function soldWithinWindow(state: SaleState): InvariantResult {
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

// ── helpers ───────────────────────────────────────────────────────────────────

/** One clause of an invariant: what is wrong, and the ids it is wrong for (empty when it holds). */
interface Breach {
  what: string;
  ids: string[];
}

function verdict(name: string, breaches: Breach[], okSummary: string): InvariantResult {
  const broken = breaches.filter((breach) => breach.ids.length > 0);
  if (broken.length === 0) return { name, ok: true, detail: okSummary };
  const detail = broken.map((breach) => `${breach.ids.length} ${breach.what}: ${listIds(breach.ids)}`).join('; ');
  return { name, ok: false, detail };
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, MAX_IDS_SHOWN).join(', ');
  const hidden = ids.length - MAX_IDS_SHOWN;
  return hidden > 0 ? `${shown} and ${hidden} more` : shown;
}

/**
 * Order ids each SKU answered 201, deduplicated. Only 201s count: a 409 that
 * carries an order id repeats an earlier 201 and promises nothing new.
 */
function createdOrderIdsBySku(state: SaleState): Map<string, Set<string>> {
  const bySku = new Map<string, Set<string>>();
  for (const answer of state.answers) {
    if (answer.status !== CREATED) continue;
    const orderIds = bySku.get(answer.sku) ?? new Set<string>();
    orderIds.add(answer.orderId);
    bySku.set(answer.sku, orderIds);
  }
  return bySku;
}

function skusByName(state: SaleState): Map<string, JudgedSku> {
  return new Map(state.skus.map((sku) => [sku.sku, sku]));
}

// A release with no reason is a bug of its own: nobody could tell the buyer why the 201 came to nothing.
const isReleasedWithReason = (reservation: ReservationFact): boolean => reservation.released && reservation.reason !== null && reservation.reason !== '';

function sumOver<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k) ?? [];
    group.push(item);
    groups.set(k, group);
  }
  return groups;
}

const signed = (n: number): string => (n > 0 ? `+${n}` : `${n}`);
