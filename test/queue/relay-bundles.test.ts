import { describe, expect, it } from 'vitest';
import { BUNDLE_BYTES, bundleEntries } from '../../src/queue/relay.js';
import { eventCount, eventTexts, type OrderEvent } from '../../src/sale/order-event.js';

/** How the relay packs outbox entries into Kafka messages (pure: no servers needed). */

const event = (sku: string, i: number, pad = 0) =>
  JSON.stringify({ orderId: `${sku}.o${i}`, sku, userId: `u${i}${'x'.repeat(pad)}`, qty: 1, requestId: '', createdAt: 1 });

describe('the relay bundling outbox entries into Kafka messages', () => {
  it("joins a SKU's entries into one message, one event per line, in order, and keeps SKUs apart", () => {
    const values = [[event('a', 1), event('a', 2)].join('\n'), event('b', 3), event('a', 4)];
    const bundles = bundleEntries({ values, keys: ['a', 'b', 'a'] });
    expect(bundles.map((b) => [b.key, eventTexts(b.value).map((t) => (JSON.parse(t) as OrderEvent).orderId)])).toEqual([
      ['a', ['a.o1', 'a.o2', 'a.o4']],
      ['b', ['b.o3']],
    ]);
  });

  it('keeps every message within BUNDLE_BYTES, losing and doubling no event (an entry larger than that goes alone)', () => {
    const values = Array.from({ length: 3_000 }, (_, i) => event('hot', i, 40));
    values.push(Array.from({ length: 2_000 }, (_, i) => event('hot', 10_000 + i, 40)).join('\n')); // one reserve.lua call's large entry
    const bundles = bundleEntries({ values, keys: values.map(() => 'hot') });
    const oversized = bundles.filter((b) => b.value.length > BUNDLE_BYTES);
    expect(oversized.map((b) => eventCount(b.value))).toEqual([2_000]);
    expect(bundles.length).toBeGreaterThan(2);
    const ids = bundles.flatMap((b) => eventTexts(b.value).map((t) => (JSON.parse(t) as OrderEvent).orderId));
    expect(ids).toEqual(values.flatMap(eventTexts).map((t) => (JSON.parse(t) as OrderEvent).orderId));
  });

  it('counts the events of a message as its lines', () => {
    expect(eventCount(event('a', 1))).toBe(1);
    expect(eventCount([event('a', 1), event('a', 2), event('a', 3)].join('\n'))).toBe(3);
  });
});
