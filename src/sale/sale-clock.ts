import { wallClock } from '../clock.js';
import type { RedisClient } from '../redis/connection.js';
import { skuKeys } from '../redis/keys.js';
import { defineScript } from '../redis/scripts.js';

/**
 * The clock that judges a sale is Redis's (TIME), never a process's own:
 * reserve.lua and take-tickets.lua read it themselves. Here, for what is
 * judged outside a script.
 */

/**
 * Now on the clock of the master that holds the SKU's first bucket, read
 * with a round trip: what `close` ends a sale at and judges its end by.
 */
export const saleClock = async (redis: RedisClient, sku: string): Promise<number> => Number(await defineScript(redis, 'sale-clock')([skuKeys(sku).meta], []));

/** How often the estimate of Redis's clock is measured again: clocks drift by milliseconds an hour, not more. */
const REMEASURE_MS = 10_000;

/**
 * Redis's clock as a process can read it on every request without a round
 * trip: its own clock plus the offset to Redis's TIME, measured with half the
 * round trip taken as the way there (off by at most that half, a
 * millisecond or so), measured again every 10 s in the background. Before
 * the first measurement, and while Redis cannot be asked, the last offset
 * (0 at first) stands. For decisions that may be a little early or late but
 * must not be seconds off, like handing out a purchase token before the
 * opening; a sale's own window is judged in its scripts.
 */
export class RedisClockEstimate {
  private offsetMs = 0;
  private measuredAt = -Infinity;
  private measuring: Promise<void> | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Measures once; resolves when done (a failure is reported, the offset kept). */
  measure(): Promise<void> {
    this.measuring ??= this.measureOnce().finally(() => (this.measuring = null));
    return this.measuring;
  }

  now(): number {
    const local = wallClock();
    if (performance.now() - this.measuredAt > REMEASURE_MS) void this.measure();
    return local + this.offsetMs;
  }

  private async measureOnce(): Promise<void> {
    const sent = wallClock();
    try {
      const [seconds, micros] = await this.redis.time();
      const received = wallClock();
      this.offsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (sent + received) / 2;
      this.measuredAt = performance.now();
    } catch (error) {
      this.onError(error);
    }
  }
}
