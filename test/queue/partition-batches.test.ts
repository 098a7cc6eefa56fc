import { describe, expect, it } from 'vitest';
import { PartitionBatches, type PartitionBatchesOptions } from '../../src/queue/partition-batches.js';
import type { ReceivedBatch } from '../../src/queue/transport.js';
import { waitFor } from '../helpers.js';

/**
 * The batches the Kafka adapter hands its handlers, from a stream of
 * messages, without a broker: what the Transport contract promises of order,
 * commits and redelivery, and what a rebalance must not break.
 */

const message = (partition: number, offset: number) => ({ partition, offset: BigInt(offset), key: `k${partition}`, value: `${partition}:${offset}` });

/** A PartitionBatches whose commits and gaps are recorded; `handler` decides what each batch does. */
const batchesWith = (handler: (batch: ReceivedBatch) => Promise<void>, options: Partial<PartitionBatchesOptions> = {}) => {
  const commits: string[] = [];
  const gaps: string[] = [];
  const batches = new PartitionBatches({
    concurrency: 2,
    handler,
    commit: (partition, next) => {
      commits.push(`${partition}@${next}`);
      return Promise.resolve();
    },
    onGap: (partition, expected, got) => gaps.push(`${partition}: ${expected}→${got}`),
    pause: () => {},
    resume: () => {},
    log: () => {},
    ...options,
  });
  return { batches, commits, gaps };
};

/** A promise resolved from outside: the handler's work, held until the test lets it finish. */
const held = () => {
  let release: () => void = () => {};
  const promise = new Promise<void>((done) => (release = done));
  return { promise, release };
};

describe('batches of a partitioned message stream', () => {
  it("hands one partition's messages over in offset order, one batch at a time, and commits a batch's next offset only once its handler resolved", async () => {
    const handled: string[][] = [];
    const first = held();
    const { batches, commits } = batchesWith(async (batch) => {
      handled.push(batch.values);
      if (handled.length === 1) await first.promise;
    });
    batches.startAt(new Map([[0, 5n]]));
    batches.add(message(0, 5));
    batches.add(message(0, 6));
    batches.add(message(0, 7));
    await waitFor(() => handled.length === 1, 1_000, 'the first batch');
    // 6 and 7 came while 5 was with the handler: they wait, and nothing is committed yet.
    expect(handled).toEqual([['0:5']]);
    expect(commits).toEqual([]);
    first.release();
    await waitFor(() => commits.length === 2, 1_000, 'both commits');
    expect(handled).toEqual([['0:5'], ['0:6', '0:7']]);
    expect(commits).toEqual(['0@6', '0@8']);
  });

  it('hands a batch whose handler threw over again, before anything that came after it', async () => {
    const handled: string[][] = [];
    const { batches, commits } = batchesWith((batch) => {
      handled.push(batch.values);
      return handled.length === 1 ? Promise.reject(new Error('MySQL down')) : Promise.resolve();
    });
    batches.startAt(new Map([[0, 0n]]));
    batches.add(message(0, 0));
    await waitFor(() => handled.length === 1, 1_000, 'the first attempt');
    batches.add(message(0, 1));
    await waitFor(() => commits.length === 1, 5_000, 'the batch done on its second delivery');
    expect(handled).toEqual([['0:0'], ['0:0', '0:1']]);
    expect(commits).toEqual(['0@2']);
  });

  it('ignores a message fetched again after a rebalance, and takes nothing past a gap (a fetch that skipped), which it reports', async () => {
    const handled: string[] = [];
    const { batches, commits, gaps } = batchesWith((batch) => {
      handled.push(...batch.values);
      return Promise.resolve();
    });
    batches.startAt(new Map([[1, 0n]]));
    for (const offset of [0, 1, 0, 1, 2, 4, 5]) batches.add(message(1, offset));
    await waitFor(() => commits.at(-1) === '1@3', 1_000, 'the commit up to the gap');
    expect(handled).toEqual(['1:0', '1:1', '1:2']);
    expect(gaps).toEqual(['1: 3→4']);
  });

  it('drops the messages of a partition taken away by a rebalance; its batch with the handler turns stale: isRunning() false, nothing committed', async () => {
    const work = held();
    let running: (() => boolean) | null = null;
    const { batches, commits } = batchesWith(async (batch) => {
      running = () => batch.isRunning();
      await work.promise;
    });
    batches.startAt(
      new Map([
        [0, 0n],
        [1, 0n],
      ]),
    );
    batches.add(message(0, 0));
    batches.add(message(0, 1));
    await waitFor(() => running !== null, 1_000, 'the batch with the handler');
    batches.holding(new Set([1]));
    expect(running!()).toBe(false);
    work.release();
    await batches.stop();
    expect(commits).toEqual([]);
  });

  it('given a partition back while its stale batch is still with the handler, waits for that batch, then hands the partition over again from where the group is', async () => {
    const work = held();
    const handled: string[][] = [];
    const { batches, commits } = batchesWith(async (batch) => {
      handled.push(batch.values);
      if (handled.length === 1) await work.promise;
    });
    batches.startAt(new Map([[0, 0n]]));
    batches.add(message(0, 0));
    await waitFor(() => handled.length === 1, 1_000, 'the first batch');
    batches.holding(new Set());
    // Given back, the group's committed offset still 0: the stream reads from there again.
    batches.startAt(new Map([[0, 0n]]));
    batches.add(message(0, 0));
    batches.add(message(0, 1));
    await new Promise((done) => setTimeout(done, 100));
    expect(handled).toHaveLength(1);
    work.release();
    await waitFor(() => commits.length === 1, 1_000, 'the new batch committed');
    expect(handled).toEqual([['0:0'], ['0:0', '0:1']]);
    expect(commits).toEqual(['0@2']);
  });

  it('works on no more partitions at once than its concurrency', async () => {
    let now = 0;
    let most = 0;
    const { batches, commits } = batchesWith(async () => {
      most = Math.max(most, ++now);
      await new Promise((done) => setTimeout(done, 20));
      now--;
    });
    batches.startAt(new Map([0, 1, 2, 3].map((p) => [p, 0n])));
    for (const p of [0, 1, 2, 3]) batches.add(message(p, 0));
    await waitFor(() => commits.length === 4, 1_000, 'all four partitions');
    expect(most).toBe(2);
  });
});
