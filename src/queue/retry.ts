import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedBatch } from './transport.js';

export class StoppedError extends Error {
  constructor() {
    super('consumer stopping: batch left for redelivery');
  }
}

/**
 * Retries `work` with exponential backoff (100 ms doubling to 5 s) until it
 * succeeds, keeping the consumer's membership alive meanwhile. Nothing is
 * acknowledged while it retries, so nothing is lost: the batch waits, and the
 * lag shows it. Gives up only when the consumer stops.
 */
export const retryUntilDone = async <T>(batch: ReceivedBatch, work: () => Promise<T>, onFailure: (error: unknown, attempt: number) => void): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      onFailure(error, attempt);
      if (!batch.isRunning()) throw new StoppedError();
      await sleep(Math.min(5_000, 100 * 2 ** (attempt - 1)));
      await batch.heartbeat().catch(() => {}); // a failed heartbeat shows as a rebalance, which redelivers
      if (!batch.isRunning()) throw new StoppedError();
    }
  }
};
