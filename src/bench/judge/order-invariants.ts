/** The invariants of what buyers were told against the orders MySQL holds: every 201 one order, every order told, one id each, retries answered alike. */
import type { InvariantResult, SaleState } from './judged-sale.js';
import { verdict, createdOrderIdsBySku, skusByName, isReleasedWithReason, countBy, groupBy } from './verdict.js';

export function everyCreatedHasOneOrder(state: SaleState): InvariantResult {
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
export function everyOrderTold(state: SaleState): InvariantResult {
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

export function uniqueOrderIds(state: SaleState): InvariantResult {
  const allOrders = state.skus.flatMap((sku) => sku.orders);
  const rows = countBy(allOrders, (order) => order.orderId);
  const repeated = [...rows].filter(([, count]) => count > 1).map(([orderId, count]) => `${orderId} (x${count})`);
  return verdict('unique-order-ids', [{ what: 'order ids on more than one MySQL row', ids: repeated }], `${rows.size} order ids, all distinct`);
}

export function idempotentAnswers(state: SaleState): InvariantResult {
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
