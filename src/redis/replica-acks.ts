import type { RedisClient } from './connection.js';

/**
 * Makes sure replicas hold a write before a buyer is told it happened.
 *
 * Redis replicates asynchronously: a master that dies right after answering
 * takes its last writes with it, and the replica promoted in its place never
 * saw those reservations — the buyer holds a 201 for an order that no longer
 * exists, and the unit is sold again. WAIT blocks until `replicas` replicas
 * have acknowledged every write made before it on the connection, so it is
 * sent after the script's reply, on the connection that carried the script:
 * a pipeline that names a key of the same slot goes to that slot's master
 * (on a single Redis, to the one connection).
 *
 * One WAIT per SKU per event-loop turn covers every reservation answered
 * before it, so a hot SKU costs one WAIT per turn, not one per buyer.
 */
export class ReplicaAcks {
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {}

  /** True once `replicas` replicas hold every write made so far to the slot of `key`; false when they did not within the timeout. */
  confirm(key: string): Promise<boolean> {
    let confirmed = this.pending.get(key);
    if (confirmed === undefined) {
      confirmed = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        // Callers from now on need a WAIT sent after their own write.
        this.pending.delete(key);
        return this.wait(key);
      });
      this.pending.set(key, confirmed);
    }
    return confirmed;
  }

  private async wait(key: string): Promise<boolean> {
    const replies = await this.redis.pipeline().exists(key).wait(this.replicas, this.timeoutMs).exec();
    const [error, acked] = replies?.[1] ?? [new Error('WAIT was not answered'), 0];
    if (error) throw error;
    return Number(acked) >= this.replicas;
  }
}
