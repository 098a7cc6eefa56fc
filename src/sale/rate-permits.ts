import type { RedisClient } from '../redis/connection.js';
import { rateLimitKey } from '../redis/keys.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';

/** take-rate-permits.lua's answer: permits leased, and when to ask again if short. */
export interface RateLease {
  granted: number;
  /** ms until the pool holds a full lease again (0: it still holds another lease of the size asked for) */
  msUntilLease: number;
}

/**
 * The fleet's rate limit in Redis: a typed call over take-rate-permits.lua,
 * which leases a server process a chunk of permits and takes back the unspent
 * rest of its last one (see the script's header).
 */
export class RatePermits {
  private readonly script: ScriptCall;
  private readonly key: string;

  /** `fullLease`: the most a process leases at a time, what it waits for once the pool is short. */
  constructor(
    redis: RedisClient,
    private readonly rate: number,
    private readonly burst: number,
    private readonly fullLease: number,
  ) {
    this.script = defineScript(redis, 'take-rate-permits');
    this.key = rateLimitKey(rate, burst);
  }

  /** Hands back `unspent` permits of an earlier lease (the pool keeps at most burst) and leases up to `wanted`. */
  async lease(wanted: number, unspent: number): Promise<RateLease> {
    const [granted, msUntilLease] = (await this.script([this.key], [this.rate, this.burst, wanted, unspent, this.fullLease])) as [number, number];
    return { granted, msUntilLease };
  }
}
