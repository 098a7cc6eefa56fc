import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../../src/bench/judge/invariants.js';
import type { Answer } from '../../../src/bench/load/load-plan.js';
import type { InvariantResult, SaleState } from '../../../src/bench/judge/judged-sale.js';

const INVARIANT_NAMES = [
  'every-201-has-one-order',
  'every-order-told',
  'no-oversell',
  'stock-conserved',
  'no-drift',
  'per-user-limit',
  'unique-order-ids',
  'idempotent-answers',
  'sold-out-when-expected',
  'no-unit-unsold-while-refused',
  'sold-within-window',
];

const created = (sku: string, userId: string, requestId: string, orderId: string): Answer => ({ sku, userId, requestId, status: 201, orderId });
const conflict = (sku: string, userId: string, requestId: string, orderId: string): Answer => ({ sku, userId, requestId, status: 409, orderId });

/**
 * A drained Redis sale that holds every invariant:
 * - sku-a: 5 units, limit 2; a PAID, a PENDING (2 units) and a CANCELLED order,
 *   plus ord-a4, dead-lettered and released with no MySQL row; 2 units left.
 * - sku-b: 2 units, limit 1, sold out as expected.
 * - u1 retried r1 and was answered 409 with the same order id; u1 also hammered
 *   sku-a with a new request id and was told about its existing order.
 */
function cleanState(): SaleState {
  return {
    usesRedis: true,
    skus: [
      {
        sku: 'sku-a',
        initialStock: 5,
        limit: 2,
        mysqlStock: 2,
        redisStock: 2,
        orders: [
          { orderId: 'ord-a1', userId: 'u1', qty: 1, status: 'PAID', reason: null },
          { orderId: 'ord-a2', userId: 'u2', qty: 2, status: 'PENDING', reason: null },
          { orderId: 'ord-a3', userId: 'u3', qty: 1, status: 'CANCELLED', reason: 'payment timeout' },
        ],
        reservations: [
          { orderId: 'ord-a1', userId: 'u1', qty: 1, persisted: true, released: false, reason: null },
          { orderId: 'ord-a2', userId: 'u2', qty: 2, persisted: true, released: false, reason: null },
          { orderId: 'ord-a3', userId: 'u3', qty: 1, persisted: true, released: true, reason: 'payment timeout' },
          { orderId: 'ord-a4', userId: 'u4', qty: 1, persisted: false, released: true, reason: 'dead letter: malformed message' },
        ],
        expectSellOut: false,
      },
      {
        sku: 'sku-b',
        initialStock: 2,
        limit: 1,
        mysqlStock: 0,
        redisStock: 0,
        orders: [
          { orderId: 'ord-b1', userId: 'u1', qty: 1, status: 'PAID', reason: null },
          { orderId: 'ord-b2', userId: 'u5', qty: 1, status: 'PENDING', reason: null },
        ],
        reservations: [
          { orderId: 'ord-b1', userId: 'u1', qty: 1, persisted: true, released: false, reason: null },
          { orderId: 'ord-b2', userId: 'u5', qty: 1, persisted: true, released: false, reason: null },
        ],
        expectSellOut: true,
      },
    ],
    answers: [
      created('sku-a', 'u1', 'r1', 'ord-a1'),
      created('sku-a', 'u2', 'r2', 'ord-a2'),
      created('sku-a', 'u3', 'r3', 'ord-a3'),
      created('sku-a', 'u4', 'r4', 'ord-a4'),
      conflict('sku-a', 'u1', 'r1', 'ord-a1'),
      conflict('sku-a', 'u1', 'r7', 'ord-a1'),
      created('sku-b', 'u1', 'r5', 'ord-b1'),
      created('sku-b', 'u5', 'r6', 'ord-b2'),
    ],
  };
}

/** The same sale run by a MySQL-only baseline: no Redis stock, no reservations, so nothing to dead-letter. */
function cleanMysqlOnlyState(): SaleState {
  const state = cleanState();
  state.usesRedis = false;
  for (const sku of state.skus) {
    sku.redisStock = null;
    sku.reservations = [];
  }
  state.answers = state.answers.filter((answer) => answer.orderId !== 'ord-a4');
  return state;
}

const sku = (state: SaleState, name: string) => {
  const found = state.skus.find((candidate) => candidate.sku === name);
  if (!found) throw new Error(`test state has no ${name}`);
  return found;
};

const invariant = (state: SaleState, name: string): InvariantResult => {
  const found = checkInvariants(state).find((result) => result.name === name);
  if (!found) throw new Error(`checker returned no ${name}`);
  return found;
};

const broken = (state: SaleState): string[] =>
  checkInvariants(state)
    .filter((result) => !result.ok)
    .map((result) => result.name);

describe('checkInvariants on a clean sale', () => {
  it('reports every invariant once, in the documented order', () => {
    expect(checkInvariants(cleanState()).map((result) => result.name)).toEqual(INVARIANT_NAMES);
  });

  it('raises no false alarm on a clean Redis sale with a cancel, a dead letter and retries', () => {
    const results = checkInvariants(cleanState());
    expect(results.filter((result) => !result.ok)).toEqual([]);
    for (const result of results) expect(result.detail).not.toBe('');
  });

  it('counts the dead-lettered release as the answer to its 201', () => {
    expect(invariant(cleanState(), 'every-201-has-one-order').detail).toContain('1 released with a reason');
  });

  it('raises no false alarm on a MySQL-only baseline and skips drift there', () => {
    const state = cleanMysqlOnlyState();
    expect(broken(state)).toEqual([]);
    expect(invariant(state, 'no-drift')).toEqual({ name: 'no-drift', ok: true, detail: 'not applicable: no Redis' });
  });
});

describe('checkInvariants on a doctored sale', () => {
  it('catches an order in MySQL that nobody was answered 201 for', () => {
    const state = cleanState();
    sku(state, 'sku-a').orders.push({ orderId: 'ord-stray', userId: 'u9', qty: 1, status: 'CANCELLED', reason: 'test' });
    expect(broken(state)).toEqual(['every-order-told']);
    expect(invariant(state, 'every-order-told').detail).toContain('ord-stray');
  });

  it('counts an order as told when a retry was answered with its id (a lost reply), and catches one whose retry was not', () => {
    const state = cleanState();
    const skuA = sku(state, 'sku-a');
    skuA.orders.push({ orderId: 'ord-lost', userId: 'u7', requestId: 'r7', qty: 1, status: 'PENDING', reason: null });
    skuA.reservations.push({ orderId: 'ord-lost', userId: 'u7', qty: 1, persisted: true, released: false, reason: null });
    skuA.mysqlStock -= 1;
    skuA.redisStock! -= 1;
    // The first reply was lost: no 201 was read. The retry after the sell-out was told 410.
    expect(broken(state)).toEqual(['every-order-told']);
    expect(invariant(state, 'every-order-told').detail).toContain('ord-lost');
    // Told 409 with its order id instead: the buyer knows.
    state.answers.push(conflict('sku-a', 'u7', 'r7', 'ord-lost'));
    expect(broken(state)).toEqual([]);
  });

  it('catches a 201 that never became an order', () => {
    const state = cleanState();
    const skuA = sku(state, 'sku-a');
    skuA.orders = skuA.orders.filter((order) => order.orderId !== 'ord-a2');
    const result = invariant(state, 'every-201-has-one-order');
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('ord-a2');
  });

  it('does not excuse a missing order with a release that gives no reason', () => {
    const state = cleanState();
    const deadLetter = sku(state, 'sku-a').reservations.find((reservation) => reservation.orderId === 'ord-a4');
    if (!deadLetter) throw new Error('test state has no ord-a4 reservation');
    deadLetter.reason = null;
    expect(broken(state)).toEqual(['every-201-has-one-order']);
    expect(invariant(state, 'every-201-has-one-order').detail).toContain('ord-a4');
  });

  it('does not excuse a missing order with a release when the strategy has no Redis', () => {
    const state = cleanMysqlOnlyState();
    state.answers.push(created('sku-a', 'u4', 'r4', 'ord-a4'));
    sku(state, 'sku-a').reservations.push({ orderId: 'ord-a4', userId: 'u4', qty: 1, persisted: false, released: true, reason: 'dead letter' });
    const result = invariant(state, 'every-201-has-one-order');
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('ord-a4');
  });

  it('catches an order id written on two MySQL rows', () => {
    const state = cleanState();
    sku(state, 'sku-a').orders.push({ orderId: 'ord-a1', userId: 'u1', qty: 1, status: 'CANCELLED', reason: 'duplicate' });
    const unique = invariant(state, 'unique-order-ids');
    expect(unique.ok).toBe(false);
    expect(unique.detail).toContain('ord-a1');
    const oneOrder = invariant(state, 'every-201-has-one-order');
    expect(oneOrder.ok).toBe(false);
    expect(oneOrder.detail).toContain('ord-a1');
  });

  it('catches an order id reused across two SKUs', () => {
    const state = cleanState();
    sku(state, 'sku-b').orders[1].orderId = 'ord-a2';
    const result = invariant(state, 'unique-order-ids');
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('ord-a2');
  });

  it('lets a user hold several live orders within the limit in units', () => {
    const state = cleanState();
    // sku-a's limit is 2: u2's 2-unit order alone is at it; u1 holds 1 and may hold 1 more.
    const skuA = sku(state, 'sku-a');
    skuA.orders.push({ orderId: 'ord-a5', userId: 'u1', qty: 1, status: 'PENDING', reason: null });
    skuA.reservations.push({ orderId: 'ord-a5', userId: 'u1', qty: 1, persisted: true, released: false, reason: null });
    skuA.mysqlStock -= 1;
    skuA.redisStock! -= 1;
    state.answers.push(created('sku-a', 'u1', 'r5', 'ord-a5'));
    expect(broken(state)).toEqual([]);
  });

  it('catches a user holding more units than the limit over two live orders', () => {
    const state = cleanState();
    sku(state, 'sku-a').orders[1].userId = 'u1';
    expect(broken(state)).toEqual(['per-user-limit']);
    const detail = invariant(state, 'per-user-limit').detail;
    expect(detail).toContain('u1 on sku-a');
    expect(detail).toContain('ord-a2');
  });

  it('catches a single order for more units than the per-user limit', () => {
    const state = cleanState();
    sku(state, 'sku-a').limit = 1;
    expect(broken(state)).toEqual(['per-user-limit']);
    const detail = invariant(state, 'per-user-limit').detail;
    expect(detail).toContain('u2 on sku-a');
    expect(detail).toContain('ord-a2');
  });

  it('ignores a cancelled order when counting what a user holds', () => {
    const state = cleanState();
    sku(state, 'sku-a').orders[2].userId = 'u1';
    expect(invariant(state, 'per-user-limit').ok).toBe(true);
  });

  it('catches negative MySQL stock', () => {
    const state = cleanState();
    sku(state, 'sku-b').mysqlStock = -1;
    const result = invariant(state, 'no-oversell');
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('sku-b (MySQL stock -1)');
  });

  it('catches negative Redis stock', () => {
    const state = cleanState();
    sku(state, 'sku-b').redisStock = -1;
    const result = invariant(state, 'no-oversell');
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('sku-b (Redis stock -1)');
  });

  it('catches more live units sold than the initial stock', () => {
    const state = cleanState();
    sku(state, 'sku-a').orders[2].status = 'PAID';
    sku(state, 'sku-a').initialStock = 3;
    const result = invariant(state, 'no-oversell');
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('sku-a (4 live units > 3 initial)');
  });

  it('catches Redis stock drifting one unit from MySQL', () => {
    const state = cleanState();
    sku(state, 'sku-a').redisStock = 3;
    expect(broken(state)).toEqual(['no-drift']);
    expect(invariant(state, 'no-drift').detail).toContain('sku-a (drift +1');
  });

  it('counts reservations still in flight as stock Redis has already taken', () => {
    const state = cleanState();
    const skuA = sku(state, 'sku-a');
    skuA.redisStock = 1;
    skuA.reservations.push({ orderId: 'ord-a5', userId: 'u6', qty: 1, persisted: false, released: false, reason: null });
    expect(invariant(state, 'no-drift').ok).toBe(true);
  });

  it('catches stock that is neither on the shelf nor in a live order', () => {
    const state = cleanState();
    sku(state, 'sku-a').initialStock = 6;
    expect(broken(state)).toEqual(['stock-conserved']);
    expect(invariant(state, 'stock-conserved').detail).toContain('sku-a (initial 6 != MySQL 2 + live 3)');
  });

  it('catches one request id answered with two different order ids', () => {
    const state = cleanState();
    state.answers.push(conflict('sku-a', 'u1', 'r1', 'ord-a9'));
    expect(broken(state)).toEqual(['idempotent-answers']);
    const detail = invariant(state, 'idempotent-answers').detail;
    expect(detail).toContain('r1');
    expect(detail).toContain('ord-a1, ord-a9');
  });

  it('catches a unit left unsold when the scenario expected a sell-out', () => {
    const state = cleanState();
    const skuB = sku(state, 'sku-b');
    skuB.initialStock = 3;
    skuB.mysqlStock = 1;
    skuB.redisStock = 1;
    expect(broken(state)).toEqual(['sold-out-when-expected']);
    expect(invariant(state, 'sold-out-when-expected').detail).toContain('sku-b');
  });

  it('names the first five offenders and counts the rest, so a detail stays one line', () => {
    const state = cleanState();
    for (let i = 0; i < 8; i += 1) state.answers.push(created('sku-a', `u${10 + i}`, `r${10 + i}`, `ord-lost${i}`));
    const detail = invariant(state, 'every-201-has-one-order').detail;
    expect(detail).toContain('ord-lost0, ord-lost1, ord-lost2, ord-lost3, ord-lost4 and 3 more');
    expect(detail).not.toContain('ord-lost5');
  });
});

describe('an order whose answer the load generator never read', () => {
  it('is not an unanswered order when its request was in flight as the load stopped, and is one otherwise', () => {
    const state = cleanState();
    const sku = state.skus[0];
    sku.orders.push({ orderId: 'cut-off', userId: 'late', requestId: 'late-r1', qty: 1, status: 'PENDING', reason: null });
    sku.mysqlStock -= 1;
    const unanswered = () => checkInvariants(state).find((r) => r.name === 'every-order-told')!;
    expect(unanswered().ok).toBe(false);
    state.unread = [{ sku: sku.sku, userId: 'late', requestId: 'late-r1' }];
    expect(unanswered()).toMatchObject({ ok: true });
    expect(unanswered().detail).toContain('1 for requests whose answer was never read');
  });
});

describe('buyers refused with 429 while units were left', () => {
  it('is a break where the SKU refused 429 ADMISSION_CLOSED and still has units, and fine where it sold every unit', () => {
    const state = cleanState();
    // sku-a has 2 units left; sku-b sold out.
    state.admissionClosed = { 'sku-b': 40 };
    expect(broken(state)).toEqual([]);
    state.admissionClosed = { 'sku-a': 3, 'sku-b': 40 };
    expect(broken(state)).toEqual(['no-unit-unsold-while-refused']);
    expect(invariant(state, 'no-unit-unsold-while-refused').detail).toContain('sku-a (3 refused 429 ADMISSION_CLOSED, MySQL 2, Redis 2 left)');
  });
});

describe('orders made outside their sale window', () => {
  /** sku-a of the clean sale, open from 10,000 to 20,000 (ms), its three orders made at 10,000, 15,000 and 19,999. */
  const windowed = (): SaleState => {
    const state = cleanState();
    const a = sku(state, 'sku-a');
    Object.assign(a, { startsAt: 10_000, endsAt: 20_000 });
    a.orders.forEach((order, i) => (order.createdAt = [10_000, 15_000, 19_999][i]));
    return state;
  };

  it('holds when every order was made from the opening up to (not at) the end, and where no SKU has a window', () => {
    expect(broken(windowed())).toEqual([]);
    expect(invariant(windowed(), 'sold-within-window').detail).toBe('1 SKUs with a sale window, all 3 orders made inside it');
    expect(invariant(cleanState(), 'sold-within-window').detail).toBe('no SKU with a sale window');
  });

  it('catches an order made before the opening and one made at or after the end (a gateway whose clock runs fast or slow judging the window)', () => {
    const state = windowed();
    const [first, , last] = sku(state, 'sku-a').orders;
    first.createdAt = 8_000;
    last.createdAt = 20_000;
    expect(broken(state)).toEqual(['sold-within-window']);
    expect(invariant(state, 'sold-within-window').detail).toBe(
      '1 orders made before their sale opened: ord-a1 (sku-a, 2000 ms before the opening); 1 orders made once their sale had ended: ord-a3 (sku-a, 0 ms after the end)',
    );
  });
});
