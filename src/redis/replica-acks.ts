import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { GroupCommit } from '../group-commit.js';
import { ErrorLog } from '../error-log.js';
import type { RedisClient } from './connection.js';
import type { SkuKeys } from './keys.js';

/**
 * Makes sure replicas hold a write before a buyer is told it happened.
 *
 * Redis replicates asynchronously: a master that dies (or stalls and is
 * voted out) right after answering takes its last writes with it, and the
 * replica promoted in its place never saw those reservations — the buyer
 * holds a 201 for an order that no longer exists, and the unit is sold again.
 *
 * WAIT blocks until `replicas` replicas have acknowledged every write the
 * connection made before it, so this keeps a connection of its own to each
 * master — the shared ones never queue behind a WAIT — and confirms on it,
 * once per master per event-loop turn and at most one at a time (the
 * confirmations asked for meanwhile share the next): a tiny write (the
 * SKU's `replica-ack` key), so that the WAIT covers everything the master
 * did before it, then WAIT, then a look at each write to be confirmed, on
 * that same master, after the WAIT. The look is what makes it safe through
 * a failover: a master that was voted out while stalled and then demoted
 * holds its promoted replica's data, without the lost write, so the look
 * fails; a master that the write is on, whose replicas acknowledged, has it
 * on a replica.
 */

/** A write to confirm: the hash field it created, in a SKU's (bucket's) keys. */
export interface WrittenField {
  keys: SkuKeys;
  /** the hash the write created a field in (one of `keys`) */
  hash: string;
  field: string;
}

/** A write no replica confirmed in time: the caller answers 503 and the client retries with the same id. */
export class NotReplicatedError extends Error {
  readonly code = 'NOT_REPLICATED';
}

/** The master that holds a key, by address, as the shared client's slot map says ('' for a single Redis; null when the map does not know). */
type MasterOf = (key: string) => string | null;

/** A connection of its own: connected at once, its first WAIT waiting for the connection rather than failing, one command at a time. */
const OWN_CONNECTION = { lazyConnect: false, enableOfflineQueue: true, enableAutoPipelining: false, maxRetriesPerRequest: 1 } as const;

export class ReplicaAcks {
  private readonly connections = new Map<string, Redis>();
  private readonly waits: GroupCommit<WrittenField, boolean>;
  private readonly masterOf: MasterOf;
  private readonly errors = new ErrorLog();

  constructor(
    private readonly redis: RedisClient,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    this.masterOf = redis instanceof Cluster ? (key) => redis.slots[calculateSlot(key)]?.[0] ?? null : () => '';
    // No size bound beyond group commit's own: a turn's writes on one master go in one pipeline.
    this.waits = new GroupCommit((master, writes) => this.waitOn(master, writes), { maxItems: 1_000, maxBytes: Number.MAX_SAFE_INTEGER }, () => 1);
  }

  /** Resolves once `replicas` replicas of the master holding `written` have it; rejects with NotReplicatedError when they did not within the timeout. */
  async confirm(written: WrittenField): Promise<void> {
    const master = this.masterOf(written.hash);
    const confirmed = master !== null && (await this.withDeadline(this.waits.submit(master, written)));
    if (!confirmed) throw new NotReplicatedError(`${written.field} not confirmed by ${this.replicas} replica(s) within ${this.timeoutMs} ms`);
  }

  close(): void {
    for (const connection of this.connections.values()) connection.disconnect();
  }

  /** A stalled master answers nothing, WAIT included: the buyer is not kept past the timeout (and a little more for the round trip). */
  private withDeadline(confirming: Promise<boolean>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.timeoutMs + 1_000)));
    return Promise.race([confirming.catch(() => false), late]).finally(() => clearTimeout(timer));
  }

  private async waitOn(master: string, writes: WrittenField[]): Promise<boolean[]> {
    const pipeline = this.connectionTo(master).pipeline().set(writes[0]!.keys.replicaAck, '1', 'PX', 60_000).wait(this.replicas, this.timeoutMs);
    for (const { hash, field } of writes) pipeline.hexists(hash, field);
    const replies = (await pipeline.exec()) ?? [];
    const [, acked] = replies[1] ?? [null, 0];
    const replicated = replies.slice(0, 2).every(([error]) => error === null) && Number(acked) >= this.replicas;
    return writes.map((_, i) => {
      const [error, present] = replies[2 + i] ?? [new Error('no reply'), 0];
      return replicated && error === null && Number(present) === 1;
    });
  }

  private connectionTo(master: string): Redis {
    let connection = this.connections.get(master);
    if (connection === undefined) {
      connection = this.redis instanceof Cluster ? this.ownConnection(this.redis, master) : this.redis.duplicate(OWN_CONNECTION);
      // A failure is answered per confirmation (503, counted); the connection's own errors are said, not repeated.
      connection.on('error', (error: Error) => this.errors.report(`Redis ${master || 'server'} (replica acks)`, error));
      this.connections.set(master, connection);
    }
    return connection;
  }

  private ownConnection(cluster: Cluster, address: string): Redis {
    const at = address.lastIndexOf(':');
    const { username, password, connectTimeout } = cluster.options.redisOptions ?? {};
    return new Redis({ host: address.slice(0, at), port: Number(address.slice(at + 1)), username, password, connectTimeout, ...OWN_CONNECTION });
  }
}
