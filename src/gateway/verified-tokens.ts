/**
 * Bearer tokens that verified, each with its buyer, until its `exp`: a buyer
 * retrying through a sale sends the same token each time, and its signature
 * and claims cannot have changed since, so checking them again buys nothing.
 *
 * Keyed by the whole token string: a token that differs in one character
 * (a tampered copy, another spelling) is another key and is verified on its
 * own. Only successes go in — a refusal is answered afresh each time, so
 * nothing a bot sends can make a later answer yes. Bounded, least recently
 * used first out, so a crowd of a million buyers costs a fixed amount of
 * memory. Emptied when the keys are reloaded: a token of a removed key must
 * be refused from then on.
 */
export class VerifiedTokens {
  /** token → the buyer, and the second from which the token is refused as expired. Map order is recency order. */
  private readonly entries = new Map<string, { userId: string; expiredFrom: number }>();

  constructor(private readonly capacity: number) {}

  /** The buyer of a token verified before and still unexpired at `nowSec`, else undefined (and an expired entry is dropped). */
  get(token: string, nowSec: number): string | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (nowSec >= entry.expiredFrom) return undefined;
    this.entries.set(token, entry);
    return entry.userId;
  }

  /**
   * Remembers a token that verified, for its buyer, until `expiredFrom`
   * (its `exp` plus the clock tolerance: the second the verifier would
   * refuse it as expired).
   */
  remember(token: string, userId: string, expiredFrom: number): void {
    this.entries.delete(token);
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { userId, expiredFrom });
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
