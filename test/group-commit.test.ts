import { describe, expect, it } from 'vitest';
import { BatchMismatchError, GroupCommit, type GroupLimits } from '../src/group-commit.js';

/**
 * The batching logic alone (pure: its `send` is a recording stand-in here;
 * reserve.lua's side is tested against Redis in reserve-batch.test.ts).
 */

interface Call {
  key: string;
  items: string[];
  answer: (results?: string[]) => void;
  fail: (error: Error) => void;
}

const recorder = (limits: GroupLimits = { maxItems: 100, maxBytes: 10_000 }) => {
  const calls: Call[] = [];
  const group = new GroupCommit<string, string>(
    (key, items) =>
      new Promise<string[]>((resolve, reject) => {
        calls.push({ key, items, answer: (results = items.map((i) => `done:${i}`)) => resolve(results), fail: reject });
      }),
    limits,
    (item) => item.length,
  );
  return { calls, group };
};

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('sends a lone item at the end of the turn it arrived in, without waiting for company', async () => {
    const { calls, group } = recorder();
    const answer = group.submit('sku', 'a');
    expect(calls).toHaveLength(0); // not before the turn has read whatever else arrived with it
    await turn();
    expect(calls.map((c) => c.items)).toEqual([['a']]);
    calls[0].answer();
    expect(await answer).toBe('done:a');
  });

  it('sends the items of one key that arrive in the same turn in one call, answering each its own result', async () => {
    const { calls, group } = recorder();
    const answers = ['a', 'b', 'c'].map((i) => group.submit('sku', i));
    await turn();
    expect(calls.map((c) => c.items)).toEqual([['a', 'b', 'c']]);
    calls[0].answer();
    expect(await Promise.all(answers)).toEqual(['done:a', 'done:b', 'done:c']);
  });

  it('with maxInFlight 2, sends a later turn beside the call in flight, and holds a third turn until one returns', async () => {
    const { calls, group } = recorder({ maxItems: 100, maxBytes: 10_000, maxInFlight: 2 });
    const answers = [group.submit('sku', 'a')];
    await turn();
    answers.push(group.submit('sku', 'b'));
    await turn();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b']]);
    answers.push(group.submit('sku', 'c'), group.submit('sku', 'd'));
    await turn();
    expect(calls).toHaveLength(2); // two in flight: c and d wait
    calls[0].answer();
    await answers[0];
    await turn();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b'], ['c', 'd']]);
    calls[1].answer();
    calls[2].answer();
    expect(await Promise.all(answers)).toEqual(['done:a', 'done:b', 'done:c', 'done:d']);
  });

  it('holds the items that arrive while a call is in flight and sends them together as soon as it returns', async () => {
    const { calls, group } = recorder();
    const first = group.submit('sku', 'a');
    await turn();
    const later = ['b', 'c'].map((i) => group.submit('sku', i));
    await turn();
    expect(calls).toHaveLength(1); // b and c wait for a's call
    calls[0].answer();
    await first;
    await Promise.resolve(); // the call's bookkeeping, right after its answers
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c']]);
    calls[1].answer();
    expect(await Promise.all(later)).toEqual(['done:b', 'done:c']);
  });

  it('keeps keys apart: two SKUs, two calls side by side', async () => {
    const { calls, group } = recorder();
    // void: the calls made are the point here, and they are never answered.
    void group.submit('x', 'a');
    void group.submit('y', 'b');
    void group.submit('x', 'c');
    await turn();
    expect(calls.map((c) => [c.key, c.items])).toEqual([
      ['x', ['a', 'c']],
      ['y', ['b']],
    ]);
  });

  it('never puts more than maxItems in a call: a full batch goes at once, beside the one in flight', async () => {
    const { calls, group } = recorder({ maxItems: 2, maxBytes: 10_000 });
    const answers = ['a', 'b', 'c', 'd', 'e'].map((i) => group.submit('sku', i));
    expect(calls.map((c) => c.items)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    await turn();
    expect(calls).toHaveLength(2); // e waits for the calls in flight
    calls[0].answer();
    calls[1].answer();
    await Promise.all(answers.slice(0, 4));
    await turn();
    expect(calls.map((c) => c.items)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('never puts more than maxBytes in a call (an item larger than the bound still goes, alone)', async () => {
    const { calls, group } = recorder({ maxItems: 100, maxBytes: 5 });
    // void: the calls made are the point here, not their answers (the last is never answered).
    void group.submit('sku', 'aaa');
    void group.submit('sku', 'bbb'); // 6 bytes with aaa: aaa goes first
    void group.submit('sku', 'cccccccc');
    expect(calls.map((c) => c.items)).toEqual([['aaa'], ['bbb']]);
    calls[0].answer();
    calls[1].answer();
    await turn();
    expect(calls.map((c) => c.items)).toEqual([['aaa'], ['bbb'], ['cccccccc']]);
  });

  it('fails every item of a call that failed, and goes on with the next call', async () => {
    const { calls, group } = recorder();
    const failing = ['a', 'b'].map((i) => group.submit('sku', i));
    await turn();
    const next = group.submit('sku', 'c');
    calls[0].fail(new Error('Redis is down'));
    for (const answer of failing) await expect(answer).rejects.toThrow('Redis is down');
    await turn();
    calls[1].answer();
    expect(await next).toBe('done:c');
  });

  it('fails every item of a call that answered the wrong number of results, rather than pairing them wrongly', async () => {
    const { calls, group } = recorder();
    const answers = ['a', 'b'].map((i) => group.submit('sku', i));
    await turn();
    calls[0].answer(['only one']);
    for (const answer of answers) await expect(answer).rejects.toBeInstanceOf(BatchMismatchError);
  });

  it('forgets a key once nothing of it waits or is in flight, so made-up SKU names cannot grow it', async () => {
    const { calls, group } = recorder();
    const answers = Array.from({ length: 50 }, (_, i) => group.submit(`made-up-${i}`, 'a'));
    expect(group.activeKeys).toBe(50);
    await turn();
    for (const c of calls) c.answer();
    await Promise.all(answers);
    await turn();
    expect(group.activeKeys).toBe(0);
  });
});
