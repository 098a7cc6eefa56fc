import type { RedisClient } from '../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { readRedisSku, skusOnSale } from '../sale/catalog.js';
import { readHoldings, readReservationsById, readSkuState, type SaleStores } from '../sale/read-state.js';
import { driftOf, inFlightUnits, isInFlight, isLive, liveUnits, type ReservationFact, type SkuState } from '../sale/state.js';
import { inventorySkus } from '../store/inventory.js';
import { readSkuRecord } from '../store/orders.js';

/**
 * What can be wrong between Redis (the sale) and MySQL (the record), found
 * without changing anything. Each kind names a different repair, so each is
 * reported on its own with the ids it concerns.
 */
export const FINDING_KINDS = [
  /** the SKU is loaded in Redis but has no MySQL inventory row; ids: [sku] */
  'SKU_NOT_IN_MYSQL',
  /** the SKU has a MySQL inventory row but is not loaded in Redis (e.g. Redis restarted without persistence); ids: [sku] */
  'SKU_NOT_IN_REDIS',
  /** reserved longer than the grace period ago, neither persisted nor released, and no order in MySQL: stuck on its way */
  'RESERVATION_WITHOUT_ORDER',
  /** the order is in MySQL but its reservation was never marked persisted, past the grace period: counted twice in the drift */
  'ORDER_NOT_MARKED_PERSISTED',
  /** marked persisted in Redis, but MySQL has no order with that id */
  'PERSISTED_WITHOUT_ORDER',
  /** a MySQL order (any status) with no reservation record in Redis */
  'ORDER_UNKNOWN_TO_REDIS',
  /** a holders entry whose reservation is released or missing, or whose order is CANCELLED: the user is locked out; ids: `userId/orderId` */
  'HOLDING_WITHOUT_LIVE_ORDER',
  /** a CANCELLED MySQL order whose Redis reservation is not released: its units are not back on sale */
  'CANCELLED_NOT_RELEASED',
  /** Redis stock + units in flight ≠ MySQL stock; count: units off; no ids */
  'DRIFT',
  /** initial stock ≠ MySQL stock + units of live orders; count: units off; no ids */
  'STOCK_NOT_CONSERVED',
] as const;

export type FindingKind = (typeof FINDING_KINDS)[number];

/** Most ids a finding lists; `count` says how many there are in all. */
export const MAX_IDS = 20;

export interface Finding {
  kind: FindingKind;
  /** how many ids (or, for DRIFT and STOCK_NOT_CONSERVED, how many units) are concerned */
  count: number;
  /** the first MAX_IDS order ids (holdings: `userId/orderId`; missing SKUs: the SKU) */
  ids: string[];
  /** one line for a person */
  detail: string;
}

/** The figures and findings of one SKU; a figure is null when its store does not have the SKU. */
export interface SkuDriftReport {
  sku: string;
  redisStock: number | null;
  /** units reserved in Redis that are neither persisted nor released */
  inFlight: number | null;
  /** a bucketed SKU's units between two buckets (debited, not yet credited) */
  inTransfer: number | null;
  mysqlStock: number | null;
  /** MySQL orders not CANCELLED, and their units */
  liveOrders: number | null;
  liveUnits: number | null;
  initialStock: number | null;
  /** Redis stock (Σ buckets) + in transfer + in flight − MySQL stock; 0 when the two stores agree */
  drift: number | null;
  findings: Finding[];
}

/**
 * One SKU as reconcile sees it: the sale's state (src/sale/state.ts), plus
 * what only reconcile needs (the holdings), and which store has the SKU at
 * all. Plain data, so `findDrift` is a pure function and can be tested on
 * doctored state.
 */
export interface DriftInput {
  /**
   * Redis and MySQL as readSkuState reads them. When a store does not have
   * the SKU, its side is empty and ignored: no orders and MySQL stock 0
   * without MySQL, no reservations and Redis stock null without Redis.
   */
  state: SkuState;
  inRedis: boolean;
  inMysql: boolean;
  /** closed by `seckill close`: RedisClient keeps only its stock, no reservation or holding is expected */
  closed: boolean;
  /** every (user, order) the SKU's holders hash lists */
  holdings: { userId: string; orderId: string }[];
}

/** Reserved long enough ago to be called stuck rather than on its way; a reservation of unknown age never is. */
export const isStale = (reservation: ReservationFact, now: number, graceMs: number): boolean =>
  reservation.reservedAt !== undefined && now - reservation.reservedAt >= graceMs;

const finding = (kind: FindingKind, ids: string[], detail: string, count = ids.length): Finding => ({
  kind,
  count,
  ids: ids.slice(0, MAX_IDS),
  detail,
});

/**
 * Compares the two stores of one SKU. `now` and `graceMs` decide when an
 * unsettled reservation is old enough to be called stuck rather than on its
 * way: the pipeline normally takes milliseconds, a dead consumer forever.
 */
export const findDrift = ({ state, inRedis, inMysql, closed, holdings }: DriftInput, now: number, graceMs: number): SkuDriftReport => {
  const orders = new Map(state.orders.map((o) => [o.orderId, o]));
  const reservations = new Map(state.reservations.map((r) => [r.orderId, r]));
  const live = state.orders.filter(isLive);
  const units = liveUnits(state);
  const redisStock = inRedis ? (state.redisStock ?? 0) : null;
  // Both stores are needed to say what is in flight and how far they drift apart.
  const inFlight = inRedis && inMysql ? inFlightUnits(state) : null;
  const drift = inRedis && inMysql ? driftOf({ ...state, redisStock }) : null;
  const findings: Finding[] = [];
  const add = (kind: FindingKind, ids: string[], detail: string) => {
    if (ids.length > 0) findings.push(finding(kind, ids, detail));
  };

  if (!inMysql) add('SKU_NOT_IN_MYSQL', [state.sku], 'loaded in Redis, but MySQL has no inventory row: nothing reserved can become an order');
  if (!inRedis) add('SKU_NOT_IN_REDIS', [state.sku], 'MySQL has its inventory row, but Redis does not have it loaded: it cannot be sold');

  if (inRedis && inMysql && !closed) {
    const unsettled = state.reservations.filter((r) => isInFlight(r) && isStale(r, now, graceMs));
    const graceText = `${Math.round(graceMs / 1000)} s`;
    add(
      'RESERVATION_WITHOUT_ORDER',
      unsettled.filter((r) => !orders.has(r.orderId)).map((r) => r.orderId),
      `reserved over ${graceText} ago, neither persisted nor released, and no order in MySQL`,
    );
    add(
      'ORDER_NOT_MARKED_PERSISTED',
      unsettled.filter((r) => orders.has(r.orderId) && isLive(orders.get(r.orderId)!)).map((r) => r.orderId),
      `in MySQL, but its reservation (over ${graceText} old) is still counted in flight`,
    );
    add(
      'PERSISTED_WITHOUT_ORDER',
      state.reservations.filter((r) => r.persisted && !orders.has(r.orderId)).map((r) => r.orderId),
      'marked persisted in Redis, but MySQL has no such order',
    );
  }

  if (inMysql && !closed) {
    add(
      'ORDER_UNKNOWN_TO_REDIS',
      state.orders.filter((o) => !reservations.has(o.orderId)).map((o) => o.orderId),
      'order in MySQL with no reservation record in Redis',
    );
  }

  if (inRedis) {
    add(
      'HOLDING_WITHOUT_LIVE_ORDER',
      holdings
        .filter(({ orderId }) => {
          const r = reservations.get(orderId);
          const order = orders.get(orderId);
          return r === undefined || r.released || (order !== undefined && !isLive(order));
        })
        .map(({ userId, orderId }) => `${userId}/${orderId}`),
      'the user holds an order that is released, unknown or cancelled, and cannot buy again',
    );
  }

  if (inRedis && inMysql) {
    add(
      'CANCELLED_NOT_RELEASED',
      state.orders.filter((o) => !isLive(o) && reservations.get(o.orderId)?.released === false).map((o) => o.orderId),
      'cancelled in MySQL, but its units were never returned to sale in Redis',
    );
    if (drift !== 0) {
      const moving = state.inTransferUnits ? ` + in transfer ${state.inTransferUnits}` : '';
      findings.push(
        finding('DRIFT', [], `Redis stock ${redisStock}${moving} + in flight ${inFlight} − MySQL stock ${state.mysqlStock} = ${drift}`, Math.abs(drift!)),
      );
    }
  }

  if (inMysql && state.initialStock !== state.mysqlStock + units) {
    const off = state.initialStock - (state.mysqlStock + units);
    findings.push(
      finding(
        'STOCK_NOT_CONSERVED',
        [],
        `initial stock ${state.initialStock} ≠ MySQL stock ${state.mysqlStock} + live units ${units} (off by ${off})`,
        Math.abs(off),
      ),
    );
  }

  return {
    sku: state.sku,
    redisStock,
    inFlight,
    inTransfer: inRedis ? (state.inTransferUnits ?? 0) : null,
    mysqlStock: inMysql ? state.mysqlStock : null,
    liveOrders: inMysql ? live.length : null,
    liveUnits: inMysql ? units : null,
    initialStock: state.initialStock,
    drift,
    findings,
  };
};

// --- reading the two stores -------------------------------------------------

export interface DriftSource {
  redis: RedisClient;
  mysql: Pool;
}

/** Both stores as the sale's state reader takes them. */
export const saleStores = ({ redis, mysql }: DriftSource): SaleStores => ({ redis, readRecord: (sku) => readSkuRecord(mysql, sku) });

/** Every SKU either store knows: the SKUs on sale in Redis and the MySQL inventory, sorted. */
export const knownSkus = async ({ redis, mysql }: DriftSource): Promise<string[]> => {
  const [indexed, inventory] = await Promise.all([skusOnSale(redis), inventorySkus(mysql)]);
  return [...new Set([...indexed, ...inventory])].sort();
};

/**
 * Reads one SKU from both stores; null when neither has it. Not one
 * snapshot: while the pipeline runs, a round can catch an order between its
 * MySQL commit and its persisted mark (a passing drift). The holders are read
 * after the reservations, and a holding whose reservation appeared in between
 * is left out rather than called unknown.
 */
export const readDriftInput = async (source: DriftSource, sku: string): Promise<DriftInput | null> => {
  const { redis } = source;
  const [read, cached] = await Promise.all([readSkuState(saleStores(source), sku), readRedisSku(redis, sku)]);
  const inMysql = read !== null;
  const inRedis = cached.loaded || cached.stock !== null;
  if (!inMysql && !inRedis) return null;

  const state: SkuState = read ?? {
    sku,
    initialStock: cached.initial ?? 0,
    limit: cached.limit ?? 0,
    mysqlStock: 0,
    redisStock: cached.stock,
    orders: [],
    reservations: [],
  };
  const closed = cached.closedAt !== null;
  if (!inRedis || !inMysql || closed) return { state, inRedis, inMysql, closed, holdings: [] };

  const holdings = await readHoldings(redis, sku);
  const known = new Set(state.reservations.map((r) => r.orderId));
  const late = [...new Set(holdings.map((h) => h.orderId))].filter((id) => !known.has(id));
  const appeared = new Set((await readReservationsById(redis, sku, late)).flatMap((r) => (r === null ? [] : [r.orderId])));
  return { state, inRedis, inMysql, closed, holdings: holdings.filter((h) => !appeared.has(h.orderId)) };
};

/** Reads and compares one SKU; null when neither store has it. The clock is read after the stores, so nothing read is younger than `now`. */
export const reconcileSku = async (source: DriftSource, sku: string, graceMs: number, clock: () => number = Date.now): Promise<SkuDriftReport | null> => {
  const input = await readDriftInput(source, sku);
  return input === null ? null : findDrift(input, clock(), graceMs);
};
