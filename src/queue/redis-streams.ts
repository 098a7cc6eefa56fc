/**
 * The Redis-streams transport (`--queue redis`): the outbox streams read as
 * a consumer group, entries claimed from dead readers, dead letters. Over
 * 300 lines because it is one idea, the Transport interface kafka.ts also
 * implements, for the other queue.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis/connection.js';
import { DEAD_LETTER_STREAM, skuKeys, STREAM_FIELD, streamMessage } from '../redis/keys.js';
import { skusOnSale } from '../sale/catalog.js';
import { bucketKeysOf } from '../sale/buckets.js';
import { entryIn, type ReplicaAcks } from '../redis/replica-acks.js';
import { execAll } from '../redis/transaction.js';
import { TOPICS, type Topic } from './names.js';
import type { BatchHandler, Envelope, Subscription, Transport } from './transport.js';

export interface StreamReaderOptions {
  /** entries per read */
  count: number;
  /** an entry another reader took and has not acknowledged for this long is taken over (its reader died) */
  claimAfterMs: number;
  /** pause when every stream was empty */
  idleMs: number;
  /**
   * after a read that found fewer entries than `count`, how long the stream
   * is left to gather more: a trickle (the pipeline running during a sale)
   * then costs one read, one produce or transaction and one acknowledgement
   * per `lingerMs`, not per entry. A full read is followed by the next at once.
   */
  lingerMs: number;
  /** name of this reader within its group */
  consumer: string;
  /**
   * readers in this process: with two, one batch's Redis work (read,
   * acknowledge) overlaps the next one's MySQL transaction
   */
  concurrency: number;
}

interface Source {
  stream: string;
  /** the message key handed to the handler (the SKU for an outbox) */
  key: string;
}

/** The longest a quiet stream waits between reads: the delay before a new sale's first entry is relayed. */
const MAX_QUIET_MS = 250;

type Entry = [id: string, fields: string[]];

/** When a stream is next worth reading, and when its stale entries are next worth claiming. */
interface Schedule {
  readAt: number;
  backoffMs: number;
  claimAt: number;
}

/**
 * Reads Redis streams with a consumer group, one stream at a time (so it
 * works on Redis Cluster, where one command may not span slots):
 * - its own unacknowledged entries first (a handler that failed),
 * - then entries of readers that died (XAUTOCLAIM after `claimAfterMs`),
 * - then new ones.
 * An entry is acknowledged and deleted only after the handler resolved, so
 * delivery is at least once and delivered entries do not pile up.
 */
class StreamReader {
  private running = true;
  /** streams whose group this reader made sure of */
  private readonly known = new Set<string>();
  /** streams where this reader's own unacknowledged entries come first (after a start, or a failed handler) */
  private readonly retryOwn = new Set<string>();
  private readonly schedules = new Map<string, Schedule>();
  private readonly loop: Promise<void>;
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly group: string,
    private readonly sources: () => Promise<Source[]>,
    private readonly handler: BatchHandler,
    private readonly options: StreamReaderOptions,
    /** with replicas to wait for: entries are handed on only once a replica holds them */
    private readonly replicaAcks: ReplicaAcks | null,
  ) {
    this.loop = this.run();
  }

  /**
   * Stops reading and leaves its groups, once: a consumer stops its
   * subscriptions and then closes the transport, which stops them again, and
   * a second leave would ask Redis about every stream for nothing.
   */
  stop(): Promise<void> {
    return (this.stopped ??= this.stopAndLeave());
  }

  private async stopAndLeave(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.leaveGroups();
  }

  private async run(): Promise<void> {
    let list: Source[] = [];
    let listedAt = 0;
    while (this.running) {
      try {
        if (Date.now() - listedAt > 1_000) {
          list = await this.sources();
          listedAt = Date.now();
        }
        const read = await this.pass(list);
        if (read === 0) await sleep(this.options.idleMs);
      } catch (error) {
        process.stderr.write(`${new Date().toISOString()} stream reader: ${(error as Error).message}\n`);
        await sleep(this.options.idleMs * 5);
      }
    }
  }

  /** One read of every stream that is due; how many entries were handled. */
  private async pass(list: Source[]): Promise<number> {
    let read = 0;
    for (const source of list) {
      if (!this.running) break;
      const when = this.scheduleOf(source.stream);
      if (Date.now() < when.readAt && !this.retryOwn.has(source.stream)) continue;
      try {
        const n = await this.readOnce(source);
        read += n;
        // A quiet stream (a SKU not on sale now) is read less and less often, up to
        // MAX_QUIET_MS apart, so thousands of old SKUs cost little; a busy one
        // at once, and one that trickles after lingerMs.
        when.backoffMs = n > 0 ? 0 : Math.min(MAX_QUIET_MS, Math.max(this.options.idleMs, when.backoffMs * 2));
        when.readAt = Date.now() + (n >= this.options.count ? 0 : n > 0 ? this.options.lingerMs : when.backoffMs);
      } catch (error) {
        // The handler failed (or Redis did): the entries stay pending and are
        // read again from this reader's own list. A Redis that lost the stream
        // or its group (a restart without persistence) gets them created again.
        if ((error as Error).message.startsWith('NOGROUP')) this.known.delete(source.stream);
        this.retryOwn.add(source.stream);
        if (this.running) process.stderr.write(`${new Date().toISOString()} stream ${source.stream}: ${(error as Error).message}\n`);
        await sleep(this.options.idleMs * 5);
      }
    }
    return read;
  }

  /** Its own unacknowledged entries first, then those of readers that died, then new ones. */
  private async readOnce(source: Source): Promise<number> {
    await this.ensureGroup(source.stream);
    if (this.retryOwn.has(source.stream)) {
      const entries = await this.read(source.stream, '0');
      if (entries.length === 0) this.retryOwn.delete(source.stream);
      return this.handle(source, entries);
    }
    const claimed = await this.claimStale(source.stream);
    if (claimed.length > 0) return this.handle(source, claimed);
    return this.handle(source, await this.read(source.stream, '>'));
  }

  private async read(stream: string, from: '0' | '>'): Promise<Entry[]> {
    const { consumer, count } = this.options;
    const answer = (await this.redis.xreadgroup('GROUP', this.group, consumer, 'COUNT', count, 'STREAMS', stream, from)) as [string, Entry[]][] | null;
    // An entry deleted while pending comes back without its fields.
    return (answer?.[0]?.[1] ?? []).filter(([, fields]) => fields !== null);
  }

  /** Entries another reader took and has not acknowledged for claimAfterMs (it died). */
  private async claimStale(stream: string): Promise<Entry[]> {
    const when = this.scheduleOf(stream);
    if (Date.now() < when.claimAt) return [];
    // Another reader's entries can only become claimable after claimAfterMs: no need to ask more often.
    const { consumer, count, claimAfterMs, idleMs } = this.options;
    when.claimAt = Date.now() + Math.max(claimAfterMs / 4, idleMs);
    const [, claimed] = (await this.redis.xautoclaim(stream, this.group, consumer, claimAfterMs, '0-0', 'COUNT', count)) as [string, Entry[]];
    return claimed.filter(([, fields]) => fields !== null);
  }

  /**
   * Hands the entries to the handler; acknowledges and deletes them once it
   * resolved. With replicas to wait for, only once a replica holds them: a
   * master that was voted out but still answers for a moment (a stall) may
   * hold entries its promoted replica never got — reservations that will not
   * exist, whose buyers were not told of them — and those must not become
   * orders. Unconfirmed, they stay pending and are read again (or are gone).
   */
  private async handle(source: Source, entries: Entry[]): Promise<number> {
    if (entries.length === 0) return 0;
    // Replication keeps a stream's order: the last entry held means all of them are.
    await this.replicaAcks?.confirm(entryIn(source.stream, entries.at(-1)![0]));
    await this.handler({
      values: entries.map(([, fields]) => streamMessage(fields)),
      keys: entries.map(() => source.key),
      heartbeat: async () => {},
      isRunning: () => this.running,
    });
    const ids = entries.map(([id]) => id);
    await execAll(
      this.redis
        .multi()
        .xack(source.stream, this.group, ...ids)
        .xdel(source.stream, ...ids),
    );
    return entries.length;
  }

  private async ensureGroup(stream: string): Promise<void> {
    if (this.known.has(stream)) return;
    try {
      await this.redis.xgroup('CREATE', stream, this.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error as Error).message.includes('BUSYGROUP')) throw error;
    }
    this.known.add(stream);
    this.retryOwn.add(stream); // after a restart, our own pending entries come first
  }

  private scheduleOf(stream: string): Schedule {
    let entry = this.schedules.get(stream);
    if (!entry) this.schedules.set(stream, (entry = { readAt: 0, backoffMs: 0, claimAt: 0 }));
    return entry;
  }

  /** Leaves no member behind in the groups it joined, unless it still holds entries (another reader takes those over). */
  private async leaveGroups(): Promise<void> {
    const { consumer } = this.options;
    for (const stream of this.known) {
      try {
        const me = (await consumersOf(this.redis, stream, this.group)).find((c) => c.name === consumer);
        if (me?.pending === 0) await this.redis.xgroup('DELCONSUMER', stream, this.group, consumer);
      } catch (error) {
        // Redis down at shutdown: the member stays until `seckill close` prunes it.
        process.stderr.write(`${new Date().toISOString()} stream ${stream}: could not leave group ${this.group}: ${(error as Error).message}\n`);
      }
    }
  }
}

/** A consumer group's members: name, entries pending, ms since it last read. */
const consumersOf = async (redis: RedisClient, stream: string, group: string): Promise<{ name: string; pending: number; idle: number }[]> => {
  const rows = (await redis.xinfo('CONSUMERS', stream, group)) as (string | number)[][];
  return rows.map((row) => {
    const info = Object.fromEntries(Array.from({ length: row.length / 2 }, (_, i) => [row[2 * i], row[2 * i + 1]]));
    return { name: String(info.name), pending: Number(info.pending), idle: Number(info.idle) };
  });
};

/**
 * Deletes the members of every group of `stream` that hold no entry and have
 * not read for `idleMs` (readers that died: their names, host-pid-i, are never
 * reused). One that holds entries is kept: deleting it would drop them.
 */
const pruneIdleConsumers = async (redis: RedisClient, stream: string, idleMs: number): Promise<number> => {
  if ((await redis.exists(stream)) === 0) return 0;
  const groups = (await redis.xinfo('GROUPS', stream)) as (string | number)[][];
  let removed = 0;
  for (const g of groups) {
    const group = String(g[g.indexOf('name') + 1]);
    for (const c of await consumersOf(redis, stream, group)) {
      if (c.pending === 0 && c.idle >= idleMs) {
        await redis.xgroup('DELCONSUMER', stream, group, c.name);
        removed += 1;
      }
    }
  }
  return removed;
};

/** Prunes dead readers from the dead-letter stream, shared by every sale of a Redis (a closed sale's outbox goes with its readers). */
export const pruneDeadLetterReaders = (redis: RedisClient, idleMs: number): Promise<number> => pruneIdleConsumers(redis, DEAD_LETTER_STREAM, idleMs);

/** Every bucket of a hot SKU has an outbox of its own (in its slot); all carry the SKU as key. */
const outboxSources = (redis: RedisClient) => async (): Promise<Source[]> => {
  const perSku = await Promise.all(
    (await skusOnSale(redis)).map(async (sku) => (await bucketKeysOf(redis, sku)).map((keys) => ({ stream: keys.outbox, key: sku }))),
  );
  return perSku.flat();
};

const deadLetterSources = (): Promise<Source[]> => Promise.resolve([{ stream: DEAD_LETTER_STREAM, key: '' }]);

/**
 * Redis streams as the queue: the SKUs' outbox streams are the orders
 * "topic", one more stream holds dead letters. Used by `--queue redis`, and by
 * the relay on its reading side.
 */
export const redisTransport = (redis: RedisClient, options: StreamReaderOptions, replicaAcks: ReplicaAcks | null = null): Transport => {
  const sourcesOf = (topic: Topic) => (topic === TOPICS.orders ? outboxSources(redis) : deadLetterSources);
  const streamOf = (topic: Topic, key: string) => (topic === TOPICS.orders ? skuKeys(key).outbox : DEAD_LETTER_STREAM);
  const subscriptions: Subscription[] = [];
  return {
    publish: async (topic: Topic, envelopes: Envelope[]) => {
      // One command per entry (auto-pipelined): entries of different SKUs live in different cluster slots.
      await Promise.all(
        envelopes.map(async (e) => {
          const stream = streamOf(topic, e.key);
          const id = await redis.xadd(stream, '*', STREAM_FIELD, e.value);
          // A dead letter lost in a failover would leave a refused order's units out of sale.
          await replicaAcks?.confirm(entryIn(stream, id!));
        }),
      );
    },
    subscribe: (topic, group, handler) => {
      const readers = Array.from(
        { length: options.concurrency },
        (_, i) => new StreamReader(redis, group, sourcesOf(topic), handler, { ...options, consumer: `${options.consumer}-${i}` }, replicaAcks),
      );
      const subscription = { stop: async () => void (await Promise.all(readers.map((r) => r.stop()))) };
      subscriptions.push(subscription);
      return Promise.resolve(subscription);
    },
    lag: async (topic, group) => {
      let total = 0;
      for (const { stream } of await sourcesOf(topic)()) {
        const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as (string | number)[][];
        for (const g of groups) {
          const info = Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]));
          if (info.name === group) total += Number(info.lag ?? 0) + Number(info.pending ?? 0);
        }
      }
      return total;
    },
    close: async () => {
      await Promise.all(subscriptions.map((s) => s.stop()));
    },
  };
};
