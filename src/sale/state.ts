/**
 * One model of a sale's state, as its two stores hold it: MySQL's stock and
 * orders (the record), Redis's stock and reservation records (the sale).
 * Plain data, and the rules read from it — what is live, what is in flight,
 * the drift between the stores — written once, for bench's invariant checker
 * and for reconcile alike.
 */
export interface OrderFact {
  orderId: string;
  userId: string;
  /** the buyer's idempotency key ('' when none was sent) */
  requestId?: string;
  qty: number;
  status: 'PENDING' | 'PAID' | 'CANCELLED';
  reason: string | null;
  /** when it was reserved (ms since epoch): Redis's TIME when reserve.lua ran (the baselines: their server's clock), if known */
  createdAt?: number;
}

export interface ReservationFact {
  orderId: string;
  userId: string;
  qty: number;
  /** when it was reserved (ms since epoch), if known */
  reservedAt?: number;
  persisted: boolean;
  /** when it was written to MySQL (ms since epoch), if known */
  persistedAt?: number;
  released: boolean;
  reason: string | null;
}

export interface SkuState {
  sku: string;
  initialStock: number;
  /** most units one user may hold */
  limit: number;
  /** the sale window as MySQL records it (ms since epoch), null = open on that side; absent when not read */
  startsAt?: number | null;
  endsAt?: number | null;
  mysqlStock: number;
  /** null when Redis was not read (a MySQL-only baseline) or has no stock for it; a bucketed SKU's buckets summed */
  redisStock: number | null;
  /** a bucketed SKU's units debited from one bucket and not yet credited to another (sale/transfers.ts); absent = 0 */
  inTransferUnits?: number;
  orders: OrderFact[];
  /** Redis reservation records; empty when Redis was not read */
  reservations: ReservationFact[];
}

/** An order that holds its units: not cancelled. */
export const isLive = (order: OrderFact): boolean => order.status !== 'CANCELLED';

/** Reserved in Redis and on its way: neither written to MySQL nor released. */
export const isInFlight = (reservation: ReservationFact): boolean => !reservation.persisted && !reservation.released;

export const unitsOf = (items: readonly { qty: number }[]): number => items.reduce((n, item) => n + item.qty, 0);

/** Units in orders that are not cancelled. */
export const liveUnits = (sku: SkuState): number => unitsOf(sku.orders.filter(isLive));

/** Units reserved in Redis but neither in MySQL nor released yet. */
export const inFlightUnits = (sku: SkuState): number => unitsOf(sku.reservations.filter(isInFlight));

/** Redis stock (Σ buckets) + units in transfer + units in flight − MySQL stock: 0 when the stores agree; null without Redis stock. */
export const driftOf = (sku: SkuState): number | null =>
  sku.redisStock === null ? null : sku.redisStock + (sku.inTransferUnits ?? 0) + inFlightUnits(sku) - sku.mysqlStock;
