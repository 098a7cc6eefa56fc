import type { RedisClient } from '../redis/connection.js';
import { rateBucketKey } from '../redis/keys.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';

/** take-rate-tokens.lua's answer: tokens leased, and when to ask again if short. */
export interface RateLease {
  granted: number;
  /** ms until the bucket holds a whole lease again (0: it does now) */
  msUntilLease: number;
}

/**
 * The fleet's token bucket in Redis: a typed call over take-rate-tokens.lua,
 * which leases a server process a chunk of tokens (see the script's header).
 */
export class RateTokens {
  private readonly script: ScriptCall;
  private readonly key: string;

  constructor(
    redis: RedisClient,
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.script = defineScript(redis, 'take-rate-tokens', 1);
    this.key = rateBucketKey(rate, burst);
  }

  async lease(wanted: number): Promise<RateLease> {
    const [granted, msUntilLease] = (await this.script([this.key], [this.rate, this.burst, wanted])) as [number, number];
    return { granted, msUntilLease };
  }
}
