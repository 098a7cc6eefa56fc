import type { RedisClient } from '../redis/connection.js';
import { rateBucketKey } from '../redis/keys.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';

/** take-rate-tokens.lua's answer: tokens leased, and when to ask again if short. */
export interface RateLease {
  granted: number;
  /** ms until the bucket holds a full lease again (0: it still holds another lease of the size asked for) */
  msUntilLease: number;
}

/**
 * The fleet's token bucket in Redis: a typed call over take-rate-tokens.lua,
 * which leases a server process a chunk of tokens and takes back the unspent
 * rest of its last one (see the script's header).
 */
export class RateTokens {
  private readonly script: ScriptCall;
  private readonly key: string;

  /** `fullLease`: the most a process leases at a time, what it waits for once the bucket is short. */
  constructor(
    redis: RedisClient,
    private readonly rate: number,
    private readonly burst: number,
    private readonly fullLease: number,
  ) {
    this.script = defineScript(redis, 'take-rate-tokens');
    this.key = rateBucketKey(rate, burst);
  }

  /** Hands back `unspent` tokens of an earlier lease (the bucket keeps at most burst) and leases up to `wanted`. */
  async lease(wanted: number, unspent: number): Promise<RateLease> {
    const [granted, msUntilLease] = (await this.script([this.key], [this.rate, this.burst, wanted, unspent, this.fullLease])) as [number, number];
    return { granted, msUntilLease };
  }
}
