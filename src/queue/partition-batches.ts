/**
 * Turns a consumer's stream of messages (each of a partition, at an offset)
 * into the batches the Transport contract promises: one partition's messages
 * handled in order, one batch of a partition at a time, up to `concurrency`
 * partitions at once; a batch's offset committed only once its handler
 * resolved; a batch whose handler threw handed over again. Knows no Kafka
 * client: kafka.ts feeds it.
 *
 * A partition's messages are taken only in offset order, each the one after
 * the last: the consumer group tells where a partition starts (its committed
 * offset), and a message past the next one means the stream skipped some (a
 * fetch answered after a rebalance moved its position) — `onGap` is told, and
 * nothing past the gap is handled, so nothing is committed over it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchHandler } from './transport.js';

export interface PartitionMessage {
  partition: number;
  offset: bigint;
  key: string;
  value: string;
}

export interface PartitionBatchesOptions {
  /** partitions handled at once */
  concurrency: number;
  handler: BatchHandler;
  /** records that `partition` is done up to `next` (exclusive): the group's committed offset */
  commit: (partition: number, next: bigint) => Promise<void>;
  /** a partition's stream skipped from `expected` to `got`: what follows cannot be handled */
  onGap: (partition: number, expected: bigint, got: bigint) => void;
  /** too much is waiting: the source should hold back; and may go on again */
  pause: () => void;
  resume: () => void;
  log: (line: string) => void;
}

/** One batch carries at most this much (a larger message goes alone), as a fetch of one partition would. */
const MAX_BATCH_BYTES = 1024 * 1024;

/** Past this much waiting over all partitions the source is paused, and resumed below half of it. */
const PAUSE_BYTES = 16 * 1024 * 1024;

/** Pause before a batch whose handler threw is handed over again. */
const REDELIVER_AFTER_MS = 1_000;

/** Longest pause between attempts at a commit that failed (the coordinator moving, a broker restarting). */
const MAX_COMMIT_BACKOFF_MS = 5_000;

interface Partition {
  /** offset of the next message this partition may take; undefined until the group said where it starts */
  next: bigint | undefined;
  waiting: PartitionMessage[];
  /** a batch of it is with the handler */
  busy: boolean;
  /** bumped when the partition is taken from this member: a batch begun before is then stale (not committed, not redelivered) */
  tenure: number;
  /** a message past `next` came: nothing more is taken until the source starts over */
  broken: boolean;
}

const sizeOf = (m: PartitionMessage) => m.key.length + m.value.length;

export class PartitionBatches {
  private readonly partitions = new Map<number, Partition>();
  /** partitions with messages waiting and no batch with the handler, in the order they became so */
  private readonly ready: number[] = [];
  private running = 0;
  private waitingBytes = 0;
  private paused = false;
  private stopped = false;
  private readonly idle: (() => void)[] = [];

  constructor(private readonly options: PartitionBatchesOptions) {}

  /** The partitions this member holds after a rebalance: the others are dropped at once, their batches with the handler made stale. */
  holding(partitions: Set<number>): void {
    for (const id of this.partitions.keys()) if (!partitions.has(id)) this.revoke(id);
    this.resumeIfDrained();
  }

  /**
   * Where the partitions this member holds start, as the group says (its
   * committed offsets). A partition held before keeps its place unless the
   * group is further on (another member handled more meanwhile).
   */
  startAt(starts: Map<number, bigint>): void {
    for (const [id, start] of starts) {
      const p = this.partitionOf(id);
      if (p.next === undefined || start > p.next) {
        p.next = start;
        this.dropWaiting(p, (m) => m.offset < start);
      }
    }
    this.resumeIfDrained();
  }

  /** Takes a message of the stream; one already taken (a fetch repeated after a rebalance) is ignored. */
  add(message: PartitionMessage): void {
    if (this.stopped) return;
    const p = this.partitions.get(message.partition);
    if (!p || p.next === undefined || p.broken || message.offset < p.next) return;
    if (message.offset > p.next) {
      p.broken = true;
      this.options.onGap(message.partition, p.next, message.offset);
      return;
    }
    p.next = message.offset + 1n;
    p.waiting.push(message);
    this.waitingBytes += sizeOf(message);
    if (!p.busy && p.waiting.length === 1) this.ready.push(message.partition);
    if (!this.paused && this.waitingBytes > PAUSE_BYTES) {
      this.paused = true;
      this.options.pause();
    }
    this.schedule();
  }

  /** No new batch is begun; resolves once the batches with the handler are done (their isRunning() turned false). */
  stop(): Promise<void> {
    this.stopped = true;
    for (const id of this.partitions.keys()) this.revoke(id);
    return this.running === 0 ? Promise.resolve() : new Promise((done) => this.idle.push(done));
  }

  private partitionOf(id: number): Partition {
    let p = this.partitions.get(id);
    if (!p) {
      p = { next: undefined, waiting: [], busy: false, tenure: 0, broken: false };
      this.partitions.set(id, p);
    }
    return p;
  }

  /** Forgets a partition's place and waiting messages; its state is kept, so a batch still with the handler blocks the next one if it comes back. */
  private revoke(id: number): void {
    const p = this.partitions.get(id);
    if (!p || p.next === undefined) return;
    p.tenure++;
    p.next = undefined;
    p.broken = false;
    this.dropWaiting(p, () => true);
    const at = this.ready.indexOf(id);
    if (at >= 0) this.ready.splice(at, 1);
  }

  private dropWaiting(p: Partition, which: (m: PartitionMessage) => boolean): void {
    const kept = p.waiting.filter((m) => !which(m));
    for (const m of p.waiting) if (which(m)) this.waitingBytes -= sizeOf(m);
    p.waiting = kept;
  }

  private resumeIfDrained(): void {
    if (this.paused && this.waitingBytes < PAUSE_BYTES / 2) {
      this.paused = false;
      this.options.resume();
    }
  }

  private schedule(): void {
    while (!this.stopped && this.running < this.options.concurrency && this.ready.length > 0) {
      const id = this.ready.shift()!;
      const p = this.partitions.get(id);
      if (!p || p.busy || p.waiting.length === 0) continue;
      this.running++;
      p.busy = true;
      void this.runBatch(id, p);
    }
  }

  /** The first waiting messages of a partition, up to MAX_BATCH_BYTES. */
  private take(p: Partition): PartitionMessage[] {
    let bytes = 0;
    let count = 0;
    while (count < p.waiting.length && (count === 0 || bytes + sizeOf(p.waiting[count]) <= MAX_BATCH_BYTES)) bytes += sizeOf(p.waiting[count++]);
    this.waitingBytes -= bytes;
    return p.waiting.splice(0, count);
  }

  private async runBatch(id: number, p: Partition): Promise<void> {
    const batch = this.take(p);
    this.resumeIfDrained();
    const { tenure } = p;
    const current = () => !this.stopped && p.tenure === tenure;
    try {
      await this.options.handler({
        values: batch.map((m) => m.value),
        keys: batch.map((m) => m.key),
        // The client heartbeats on its own, whatever the handler does.
        heartbeat: () => Promise.resolve(),
        isRunning: current,
      });
      await this.commitWhile(current, id, batch[batch.length - 1].offset + 1n);
    } catch (error) {
      if (current()) {
        this.options.log(`batch of ${batch.length} on partition ${id} failed, handing it over again in ${REDELIVER_AFTER_MS} ms: ${(error as Error).message}`);
        await sleep(REDELIVER_AFTER_MS);
        if (current()) {
          p.waiting.unshift(...batch);
          for (const m of batch) this.waitingBytes += sizeOf(m);
        }
      }
    } finally {
      p.busy = false;
      this.running--;
      // Waiting messages are the current tenure's (a revoke drops the rest), also when this batch was stale.
      if (p.waiting.length > 0 && !this.ready.includes(id)) this.ready.push(id);
      if (this.running === 0) for (const done of this.idle.splice(0)) done();
      this.schedule();
    }
  }

  /** Commits, trying again while the partition is still this member's: the batch is done, only the record of it is missing. */
  private async commitWhile(current: () => boolean, id: number, next: bigint): Promise<void> {
    for (let attempt = 1; current(); attempt++) {
      try {
        await this.options.commit(id, next);
        return;
      } catch (error) {
        this.options.log(`commit of partition ${id} at ${next} failed (attempt ${attempt}), will retry: ${(error as Error).message}`);
        await sleep(Math.min(MAX_COMMIT_BACKOFF_MS, 250 * attempt));
      }
    }
  }
}
