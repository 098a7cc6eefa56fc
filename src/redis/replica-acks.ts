import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { ErrorLog } from '../error-log.js';
import { GroupCommit } from '../group-commit.js';
import type { RedisClient } from './connection.js';
import { replicaAckKeyOf } from './keys.js';

/**
 * Makes sure replicas hold a write before anyone acts on it: before a buyer
 * is told an order, before the relay forwards an outbox entry, before the
 * consumer takes a reservation as persisted. And that a master's state was
 * the sale's before a buyer is told SOLD_OUT from it: a master cut off from
 * the others still answers, from stock its replica, promoted, never sold.
 *
 * Redis replicates asynchronously: a master that dies (or stalls and is
 * voted out, then wakes and runs what was queued at it before it learns it
 * was demoted) takes its last writes with it, and the replica promoted in
 * its place never saw them — the buyer holds a 201 for an order that no
 * longer exists, and the unit is sold again.
 *
 * WAIT blocks until `replicas` replicas have acknowledged every write the
 * connection made before it, so this keeps connections of its own to each
 * master — the shared ones never queue behind a WAIT — and confirms on them,
 * once per master per event-loop turn (up to WAITS_PER_MASTER at once; the
 * confirmations asked for while all are busy share the next): a tiny write
 * (a `replica-ack` key in the slot of the first write), so that the WAIT
 * covers everything the master did before, then WAIT, then a look at each
 * write to confirm, on that same master, after the WAIT. The look is what
 * makes it safe through a failover: a master that was voted out and demoted
 * holds its promoted replica's data, without the lost write, so the look
 * fails; a master that holds the write, whose replicas acknowledged, has it
 * on a replica.
 */

/** A write to confirm, and how to see it on a master: a command in the write's slot, and what its reply must be. */
export interface Look {
  /** the key written (its slot says which master holds it) */
  key: string;
  /** a read of that key: [command, ...args] */
  read: [string, ...(string | number)[]];
  /** whether the read's reply shows the write */
  holds: (reply: unknown) => boolean;
}

/** The write created `field` in hash `hash`. */
export const fieldIn = (hash: string, field: string): Look => ({ key: hash, read: ['HEXISTS', hash, field], holds: (reply) => Number(reply) === 1 });

/** The write added entry `id` to stream `stream`. */
export const entryIn = (stream: string, id: string): Look => ({
  key: stream,
  read: ['XRANGE', stream, id, id],
  holds: (reply) => Array.isArray(reply) && reply.length === 1,
});

/**
 * The integer at `key` is below `n` (a key that is not there counts as 0): a
 * stock that cannot serve a buy of n units, as a SOLD_OUT answer claims.
 */
export const countBelow = (key: string, n: number): Look => ({ key, read: ['GET', key], holds: (reply) => Number(reply ?? 0) < n });

/**
 * The write marked the JSON record in `field` of `hash` with `mark` (a
 * record's `persistedAt`, `releasedAt`); a record that is not there holds
 * too: there was nothing to mark on this master.
 */
export const markedIn = (hash: string, field: string, mark: string): Look => ({
  key: hash,
  read: ['HGET', hash, field],
  holds: (reply) => reply === null || (typeof reply === 'string' && reply.includes(`"${mark}"`)),
});

/** A write no replica confirmed in time: the caller answers 503 (and the client retries with the same id), or tries again later. */
export class NotReplicatedError extends Error {
  readonly code = 'NOT_REPLICATED';
}

/** The master that holds a key, by address, as the shared client's slot map says ('' for a single Redis; null when the map does not know). */
type MasterOf = (key: string) => string | null;

/** A connection of its own: connected at once, its first WAIT waiting for the connection rather than failing, one command at a time. */
const OWN_CONNECTION = { lazyConnect: false, enableOfflineQueue: true, enableAutoPipelining: false, maxRetriesPerRequest: 1 } as const;

/**
 * WAITs in flight to one master at once, each on a connection of its own (a
 * WAIT blocks its connection): a turn's confirmations need not wait for the
 * previous turn's WAIT to return before theirs is sent.
 */
const WAITS_PER_MASTER = 4;

export class ReplicaAcks {
  /** each master's connections, and the WAITs in flight on each */
  private readonly connections = new Map<string, { connection: Redis; busy: number }[]>();
  private readonly waits: GroupCommit<Look, boolean>;
  private readonly masterOf: MasterOf;
  private readonly errors = new ErrorLog();

  constructor(
    private readonly redis: RedisClient,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    this.masterOf = redis instanceof Cluster ? (key) => redis.slots[calculateSlot(key)]?.[0] ?? null : () => '';
    this.waits = new GroupCommit(
      (master, looks) => this.waitOn(master, looks),
      { maxItems: 1_000, maxBytes: Number.MAX_SAFE_INTEGER, maxInFlight: WAITS_PER_MASTER },
      () => 1,
    );
  }

  /** Resolves once `replicas` replicas of the master holding the write have it; rejects with NotReplicatedError when they did not within the timeout. */
  async confirm(look: Look): Promise<void> {
    const master = this.masterOf(look.key);
    const confirmed = master !== null && (await this.withDeadline(this.waits.submit(master, look)));
    if (!confirmed) throw new NotReplicatedError(`a write to ${look.key} not confirmed by ${this.replicas} replica(s) within ${this.timeoutMs} ms`);
  }

  /** Every write of `looks` (rejects as confirm does when one is not confirmed). */
  async confirmAll(looks: readonly Look[]): Promise<void> {
    await Promise.all(looks.map((look) => this.confirm(look)));
  }

  close(): void {
    for (const pool of this.connections.values()) for (const { connection } of pool) connection.disconnect();
  }

  /** A stalled master answers nothing, WAIT included: the caller is not kept past the timeout (and a little more for the round trip). */
  private withDeadline(confirming: Promise<boolean>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.timeoutMs + 1_000)));
    return Promise.race([confirming.catch(() => false), late]).finally(() => clearTimeout(timer));
  }

  private async waitOn(master: string, looks: Look[]): Promise<boolean[]> {
    const own = this.leastBusy(master);
    const pipeline = own.connection.pipeline().set(replicaAckKeyOf(looks[0].key), '1', 'PX', 60_000).wait(this.replicas, this.timeoutMs);
    for (const { read } of looks) pipeline.call(...read);
    own.busy += 1;
    const replies = (await pipeline.exec().finally(() => (own.busy -= 1))) ?? [];
    const [, acked] = replies[1] ?? [null, 0];
    const replicated = replies.slice(0, 2).every(([error]) => error === null) && Number(acked) >= this.replicas;
    return looks.map((look, i) => {
      const [error, reply] = replies[2 + i] ?? [new Error('no reply'), null];
      return replicated && error === null && look.holds(reply);
    });
  }

  /** A connection of the master's with no WAIT on it (at most WAITS_PER_MASTER are in flight, so there is one, unless one was given up on). */
  private leastBusy(master: string): { connection: Redis; busy: number } {
    let pool = this.connections.get(master);
    if (pool === undefined) {
      pool = Array.from({ length: WAITS_PER_MASTER }, () => ({ connection: this.newConnection(master), busy: 0 }));
      this.connections.set(master, pool);
    }
    return pool.reduce((least, own) => (own.busy < least.busy ? own : least));
  }

  private newConnection(master: string): Redis {
    let connection: Redis;
    if (this.redis instanceof Cluster) {
      const at = master.lastIndexOf(':');
      const { username, password, connectTimeout } = this.redis.options.redisOptions ?? {};
      connection = new Redis({ host: master.slice(0, at), port: Number(master.slice(at + 1)), username, password, connectTimeout, ...OWN_CONNECTION });
    } else {
      connection = this.redis.duplicate(OWN_CONNECTION);
    }
    // A failure is answered per confirmation (503, or a retry, counted); the connection's own errors are said, not repeated.
    connection.on('error', (error: Error) => this.errors.report(`Redis ${master || 'server'} (replica acks)`, error));
    return connection;
  }
}
