/** How an invariant says what it found: one line naming what is wrong and the first ids it is wrong for, and the counting helpers the checks share. */
import { type ReservationFact } from '../../sale/state.js';
import type { InvariantResult, JudgedSku, SaleState } from './judged-sale.js';

/** Enough ids to start digging from; a broken run can have thousands, and the detail must stay one readable line. */
export const MAX_IDS_SHOWN = 5;

/** HTTP status of an accepted buy: the only answer that promises the buyer an order. */
export const CREATED = 201;

/** One clause of an invariant: what is wrong, and the ids it is wrong for (empty when it holds). */
export interface Breach {
  what: string;
  ids: string[];
}

export function verdict(name: string, breaches: Breach[], okSummary: string): InvariantResult {
  const broken = breaches.filter((breach) => breach.ids.length > 0);
  if (broken.length === 0) return { name, ok: true, detail: okSummary };
  const detail = broken.map((breach) => `${breach.ids.length} ${breach.what}: ${listIds(breach.ids)}`).join('; ');
  return { name, ok: false, detail };
}

export function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, MAX_IDS_SHOWN).join(', ');
  const hidden = ids.length - MAX_IDS_SHOWN;
  return hidden > 0 ? `${shown} and ${hidden} more` : shown;
}

/**
 * Order ids each SKU answered 201, deduplicated. Only 201s count: a 409 that
 * carries an order id repeats an earlier 201 and promises nothing new.
 */
export function createdOrderIdsBySku(state: SaleState): Map<string, Set<string>> {
  const bySku = new Map<string, Set<string>>();
  for (const answer of state.answers) {
    if (answer.status !== CREATED) continue;
    const orderIds = bySku.get(answer.sku) ?? new Set<string>();
    orderIds.add(answer.orderId);
    bySku.set(answer.sku, orderIds);
  }
  return bySku;
}

export function skusByName(state: SaleState): Map<string, JudgedSku> {
  return new Map(state.skus.map((sku) => [sku.sku, sku]));
}

// A release with no reason is a bug of its own: nobody could tell the buyer why the 201 came to nothing.

export const isReleasedWithReason = (reservation: ReservationFact): boolean => reservation.released && reservation.reason !== null && reservation.reason !== '';

export function sumOver<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k) ?? [];
    group.push(item);
    groups.set(k, group);
  }
  return groups;
}

export const signed = (n: number): string => (n > 0 ? `+${n}` : `${n}`);
