/**
 * Group commit: items for the same key that arrive together go out in one
 * call. The first item of a quiet key is sent at the end of the event-loop
 * turn it arrived in (setImmediate: every request read in that turn joins
 * it, and a lone one waits for nothing but the turn); items that arrive
 * while a call for their key is in flight wait for it and go together when
 * it returns (or, with `maxInFlight` above 1, at the end of their own turn
 * while fewer calls than that are in flight). A call carries at most
 * `maxItems` items and `maxBytes` bytes: a full batch goes at once, beside
 * the one in flight.
 *
 * The point is the fixed cost of a call — for reserve.lua, one round trip,
 * one EVALSHA dispatch and the script's shared reads and writes — paid once
 * per batch instead of once per buyer, with no timer and no added wait
 * beyond the call already in flight.
 */

export interface GroupLimits {
  /** most items one call carries */
  maxItems: number;
  /** most bytes of items one call carries (as `sizeOf` counts them) */
  maxBytes: number;
  /**
   * calls of one key in flight at once (default 1): with more, the items of
   * a turn go out at its end while earlier calls are still in flight, each
   * turn's in a call of its own, until that many are
   */
  maxInFlight?: number;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

interface Group<Item, Result> {
  waiting: Waiting<Item, Result>[];
  bytes: number;
  inFlight: number;
  scheduled: boolean;
}

/** A call returned a different number of results than it was given items: every item of it fails. */
export class BatchMismatchError extends Error {
  readonly code = 'BATCH_MISMATCH';
}

export class GroupCommit<Item, Result> {
  private readonly groups = new Map<string, Group<Item, Result>>();
  private readonly maxInFlight: number;

  constructor(
    /** one call for the items of one key, answering one result per item, in order */
    private readonly send: (key: string, items: Item[]) => Promise<Result[]>,
    private readonly limits: GroupLimits,
    private readonly sizeOf: (item: Item) => number,
  ) {
    this.maxInFlight = limits.maxInFlight ?? 1;
  }

  submit(key: string, item: Item): Promise<Result> {
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { waiting: [], bytes: 0, inFlight: 0, scheduled: false };
      this.groups.set(key, group);
    }
    const size = this.sizeOf(item);
    const { maxItems, maxBytes } = this.limits;
    if (group.waiting.length >= maxItems || (group.waiting.length > 0 && group.bytes + size > maxBytes)) this.flush(key, group);
    const promise = new Promise<Result>((resolve, reject) => group.waiting.push({ item, resolve, reject }));
    group.bytes += size;
    if (group.inFlight < this.maxInFlight && !group.scheduled) {
      group.scheduled = true;
      const scheduledFor = group;
      setImmediate(() => {
        scheduledFor.scheduled = false;
        if (scheduledFor.inFlight < this.maxInFlight) this.flush(key, scheduledFor);
      });
    }
    return promise;
  }

  /** Keys with a batch waiting or in flight (idle keys are forgotten, so made-up SKU names cannot grow this). */
  get activeKeys(): number {
    return this.groups.size;
  }

  private flush(key: string, group: Group<Item, Result>): void {
    const batch = group.waiting;
    if (batch.length === 0) return;
    group.waiting = [];
    group.bytes = 0;
    group.inFlight += 1;
    // void: call() settles every waiter of the batch itself (resolve or reject) and never rejects.
    void this.call(key, batch).finally(() => {
      group.inFlight -= 1;
      if (group.waiting.length > 0 && !group.scheduled && group.inFlight < this.maxInFlight) this.flush(key, group);
      else if (group.inFlight === 0 && group.waiting.length === 0 && !group.scheduled && this.groups.get(key) === group) this.groups.delete(key);
    });
  }

  private async call(key: string, batch: Waiting<Item, Result>[]): Promise<void> {
    try {
      const results = await this.send(
        key,
        batch.map((w) => w.item),
      );
      if (results.length !== batch.length) throw new BatchMismatchError(`a call for ${key} answered ${results.length} results for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(results[i]));
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}
