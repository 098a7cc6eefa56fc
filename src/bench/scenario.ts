import { readFileSync } from 'node:fs';
import type { SkuDefinition } from '../sale/catalog.js';
import { SKU_PATTERN } from '../sale/ids.js';
import { MAX_BUCKETS } from '../sale/buckets.js';
import { AUTH_MODES, type AuthMode } from '../config.js';
import { ARRIVAL_SHAPES, SPIKE_DEFAULTS, type Arrival } from './load/arrivals.js';
import { FAULT_KINDS, FAULT_KINDS_WITH_SETUP, type Fault, type FaultKind } from './faults/kinds.js';
import { parseThreshold, ThresholdError, type Threshold } from './judge/thresholds.js';

/** A scenario's `"chaos"` block: faults drawn from the seed instead of written out (see chaos.ts). */
export interface Chaos {
  /** how many faults each run injects */
  faults: number;
  /** they start between 300 ms and this many ms into the load */
  withinMs: number;
  /** each lasts between 200 ms and this many ms */
  maxForMs: number;
  kinds: FaultKind[];
}

/** A scenario file (scenarios/*.json): one sale, its crowd, and what to expect. */
export interface Scenario {
  name: string;
  description: string;
  /**
   * `opensAfterMs`: a scheduled sale that opens this long after the load
   * starts (bench) or after it is preloaded (`preload --file`); the crowd
   * arrives before it. `endsAfterMs`: it ends this long after the same moment
   */
  skus: (SkuDefinition & { weight: number; opensAfterMs: number | null; endsAfterMs: number | null })[];
  /** distinct buyers in the population */
  buyers: number;
  /** units per request */
  qty: number;
  /** shares of the traffic that are not honest first attempts (0–1 each) */
  bots: { retries: number; hammer: number; unknownSku: number; badBody: number; noToken: number; badIdentity: number; lostReplies: number };
  /** the server requires purchase tokens (serve --require-token); bots in `noToken` post without one */
  tokens: boolean;
  /**
   * who buyers are (serve --auth): none takes the body's userId on its word;
   * jwt has every buyer carry a bearer token signed by the run's login key,
   * and bots in `badIdentity` carry broken ones. `bench --auth` overrides it
   */
  auth: AuthMode;
  /**
   * `rate`: requests a second over all connections, sent on a schedule
   * whatever the server does (null: each connection sends again as soon as it
   * is answered). `arrival`: an open crowd instead (arrivals.ts): requests
   * arrive on the shape's schedule over a pool of `connections`, at most
   * `maxInFlight` in flight (null: 10 a connection), the rest dropped and
   * counted; `requests` caps it and `durationSec` is its length (null: the
   * closed loop). `bench --arrival` picks the model per run
   */
  load: { connections: number; requests: number; durationSec: number; rate: number | null; arrival: Arrival | null; maxInFlight: number | null };
  /** null: nobody pays and nothing times out during the run */
  payment: { payTimeoutSec: number; payShare: number } | null;
  expect: { sellOut: boolean };
  drainTimeoutSec: number;
  /** what bench breaks during the load (seckill strategy only), in the order they fire */
  faults: Fault[];
  /** faults drawn from the seed (see chaos.ts); null for a scenario without */
  chaos: Chaos | null;
  /** serve --workers of the server; null: bench's --workers (default 1). `bench --workers` overrides it */
  workers: number | null;
  /**
   * clocks of the server's processes, ms off the true time
   * (SECKILL_CLOCK_OFFSET_MS): with `workers`, each worker takes the next
   * offset in turn; empty: no offset
   */
  clockOffsetsMs: number[];
  /** limits the run's figures are held to (`"p99<150ms"`, `"ceiling>=0.7"`): a broken one fails the run (exit 99); `bench --threshold` adds more */
  thresholds: Threshold[];
}

export class ScenarioError extends Error {
  readonly code = 'SCENARIO';
}

type Json = Record<string, unknown>;

/** Reads fields of one JSON object, naming the file and field path in every error. */
const reader = (file: string, path: string, raw: unknown, known: string[]) => {
  const fail = (field: string, problem: string): never => {
    throw new ScenarioError(`${file}: ${path}${path && field ? '.' : ''}${field} ${problem}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('', 'must be an object');
  const o = raw as Json;
  for (const key of Object.keys(o)) if (!known.includes(key)) fail(key, `is not a known field (known: ${known.join(', ')})`);
  const number = (field: string, min: number, max: number, fallback?: number, whole = true): number => {
    const v = o[field] ?? fallback;
    if (typeof v !== 'number' || (whole && !Number.isSafeInteger(v)) || v < min || v > max) {
      fail(field, `must be a ${whole ? 'whole ' : ''}number from ${min} to ${max}, got ${JSON.stringify(o[field])}`);
    }
    return v as number;
  };
  const time = (field: string): number | null => {
    const v = o[field];
    if (v === undefined || v === null) return null;
    const ms = typeof v === 'string' ? Date.parse(v) : NaN;
    if (Number.isNaN(ms)) fail(field, `must be an ISO 8601 time, got ${JSON.stringify(v)}`);
    return ms;
  };
  /** "500ms", "2s", "1.5s": a duration in ms, from `min` to `max` ms */
  const duration = (field: string, min: number, max: number, fallback?: string): number => {
    const v = o[field] ?? fallback;
    const match = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s)$/.exec(v) : null;
    const ms = match ? Math.round(Number(match[1]) * (match[2] === 's' ? 1000 : 1)) : NaN;
    if (Number.isNaN(ms) || ms < min || ms > max) {
      fail(field, `must be a duration like "500ms" or "2s", from ${min}ms to ${max / 1000}s, got ${JSON.stringify(o[field])}`);
    }
    return ms;
  };
  return { o, fail, number, time, duration };
};

const parseFault = (file: string, path: string, raw: unknown): Fault => {
  const r = reader(file, path, raw, ['at', 'do', 'for']);
  if (!(FAULT_KINDS as readonly unknown[]).includes(r.o.do)) r.fail('do', `must be one of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(r.o.do)}`);
  return { atMs: r.duration('at', 0, 600_000), kind: r.o.do as FaultKind, forMs: r.duration('for', 0, 120_000, '2s') };
};

const parseChaos = (file: string, raw: unknown): Chaos => {
  const r = reader(file, 'chaos', raw, ['faults', 'within', 'maxFor', 'kinds']);
  // A Redis Cluster or workers fault is drawn only when named: it needs a run on bench's own cluster, or serve --workers.
  const kinds = r.o.kinds ?? FAULT_KINDS.filter((k) => !FAULT_KINDS_WITH_SETUP.includes(k));
  if (!Array.isArray(kinds) || kinds.length === 0 || !kinds.every((k) => (FAULT_KINDS as readonly unknown[]).includes(k))) {
    r.fail('kinds', `must be a non-empty array of ${FAULT_KINDS.join(', ')}`);
  }
  return {
    faults: r.number('faults', 1, 20, 2),
    withinMs: r.duration('within', 500, 600_000, '5s'),
    maxForMs: r.duration('maxFor', 200, 120_000, '2s'),
    kinds: kinds as FaultKind[],
  };
};

const parseArrival = (file: string, raw: unknown): Arrival => {
  const shape = (raw as Json | null)?.shape;
  if (!(ARRIVAL_SHAPES as readonly unknown[]).includes(shape)) {
    reader(file, 'load.arrival', raw, ['shape']).fail('shape', `must be one of ${ARRIVAL_SHAPES.join(', ')}, got ${JSON.stringify(shape)}`);
  }
  const rate = (r: ReturnType<typeof reader>, field: string, min = 1) => r.number(field, min, 1e6);
  switch (shape as Arrival['shape']) {
    case 'constant': {
      const r = reader(file, 'load.arrival', raw, ['shape', 'rate']);
      return { shape: 'constant', rate: rate(r, 'rate') };
    }
    case 'ramp': {
      const r = reader(file, 'load.arrival', raw, ['shape', 'from', 'to']);
      return { shape: 'ramp', from: rate(r, 'from', 0), to: rate(r, 'to') };
    }
    case 'spike': {
      const r = reader(file, 'load.arrival', raw, ['shape', 'peak', 'rise', 'hold', 'tail', 'tailShare']);
      const ms = (field: string, fallback: number) => r.duration(field, 1, 600_000, `${fallback}ms`);
      return {
        shape: 'spike',
        peak: rate(r, 'peak'),
        riseMs: ms('rise', SPIKE_DEFAULTS.riseMs),
        holdMs: ms('hold', SPIKE_DEFAULTS.holdMs),
        tailMs: ms('tail', SPIKE_DEFAULTS.tailMs),
        tailShare: r.number('tailShare', 0, 1, SPIKE_DEFAULTS.tailShare, false),
      };
    }
  }
};

const parseSku = (file: string, path: string, raw: unknown) => {
  const r = reader(file, path, raw, ['sku', 'stock', 'limit', 'buckets', 'weight', 'startsAt', 'endsAt', 'opensAfter', 'endsAfter']);
  if (typeof r.o.sku !== 'string' || !SKU_PATTERN.test(r.o.sku)) r.fail('sku', `must match ${SKU_PATTERN}, got ${JSON.stringify(r.o.sku)}`);
  const def = {
    sku: r.o.sku as string,
    stock: r.number('stock', 0, 1e9),
    limit: r.number('limit', 1, 1e6, 1),
    buckets: r.number('buckets', 1, MAX_BUCKETS, 1),
    weight: r.number('weight', 0, 1e6, 1, false),
    startsAt: r.time('startsAt'),
    endsAt: r.time('endsAt'),
    opensAfterMs: r.o.opensAfter === undefined ? null : r.duration('opensAfter', 0, 3_600_000),
    endsAfterMs: r.o.endsAfter === undefined ? null : r.duration('endsAfter', 1, 3_600_000),
  };
  if (def.startsAt !== null && def.endsAt !== null && def.endsAt <= def.startsAt) r.fail('endsAt', 'must be after startsAt');
  if (def.opensAfterMs !== null && (def.startsAt !== null || def.endsAt !== null))
    r.fail('opensAfter', 'is relative to the start of the load: give it without startsAt or endsAt');
  if (def.endsAfterMs !== null && (def.startsAt !== null || def.endsAt !== null))
    r.fail('endsAfter', 'is relative to the start of the load: give it without startsAt or endsAt');
  if (def.endsAfterMs !== null && def.opensAfterMs !== null && def.endsAfterMs <= def.opensAfterMs) r.fail('endsAfter', 'must be after opensAfter');
  return def;
};

export const parseScenario = (file: string, text: string): Scenario => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(`${file}: is not valid JSON: ${(error as Error).message}`);
  }
  const top = reader(file, '', raw, [
    'name',
    'description',
    'skus',
    'buyers',
    'qty',
    'bots',
    'tokens',
    'auth',
    'load',
    'payment',
    'expect',
    'drainTimeoutSec',
    'faults',
    'chaos',
    'workers',
    'clockOffsetsMs',
    'thresholds',
  ]);
  const o = top.o;
  if (!Array.isArray(o.skus) || o.skus.length === 0) top.fail('skus', 'must be a non-empty array');
  const skus = (o.skus as unknown[]).map((s, i) => parseSku(file, `skus[${i}]`, s));
  const seen = new Set<string>();
  for (const s of skus) {
    if (seen.has(s.sku)) top.fail('skus', `lists ${s.sku} twice`);
    seen.add(s.sku);
  }
  if (skus.every((s) => s.weight === 0)) top.fail('skus', 'must give at least one SKU a weight above 0');

  const bots = reader(file, 'bots', o.bots ?? {}, ['retries', 'hammer', 'unknownSku', 'badBody', 'noToken', 'badIdentity', 'lostReplies']);
  const share = (field: string) => bots.number(field, 0, 1, 0, false);
  const botShares = {
    retries: share('retries'),
    hammer: share('hammer'),
    unknownSku: share('unknownSku'),
    badBody: share('badBody'),
    noToken: share('noToken'),
    badIdentity: share('badIdentity'),
    lostReplies: share('lostReplies'),
  };
  if (o.auth !== undefined && !(AUTH_MODES as readonly unknown[]).includes(o.auth))
    top.fail('auth', `must be one of ${AUTH_MODES.join(', ')}, got ${JSON.stringify(o.auth)}`);
  const auth = (o.auth as AuthMode | undefined) ?? 'none';
  if (botShares.badIdentity > 0 && auth !== 'jwt') bots.fail('badIdentity', 'needs "auth": "jwt" (without sign-in there is no identity to fake)');
  if (o.tokens !== undefined && typeof o.tokens !== 'boolean') top.fail('tokens', 'must be true or false');
  if (botShares.noToken > 0 && o.tokens !== true) bots.fail('noToken', 'needs "tokens": true (without purchase tokens there is nothing to post without)');
  if (Object.values(botShares).reduce((a, b) => a + b, 0) > 1) bots.fail('', 'shares add up to more than 1');

  const load = reader(file, 'load', o.load ?? {}, ['connections', 'requests', 'durationSec', 'rate', 'arrival', 'maxInFlight']);
  if (load.o.rate !== undefined && load.o.arrival !== undefined)
    load.fail('arrival', 'is an open crowd on its own schedule: give it without "rate" (the closed loop\'s cap)');
  const payment = o.payment === undefined || o.payment === null ? null : reader(file, 'payment', o.payment, ['payTimeoutSec', 'payShare']);
  const expect = reader(file, 'expect', o.expect ?? {}, ['sellOut']);
  if (expect.o.sellOut !== undefined && typeof expect.o.sellOut !== 'boolean') expect.fail('sellOut', 'must be true or false');
  if (o.faults !== undefined && !Array.isArray(o.faults)) top.fail('faults', 'must be an array of {"at": "2s", "do": "kill-consumer", "for"?: "2s"}');
  const faults = ((o.faults as unknown[] | undefined) ?? []).map((f, i) => parseFault(file, `faults[${i}]`, f)).sort((a, b) => a.atMs - b.atMs);

  const chaos = o.chaos === undefined ? null : parseChaos(file, o.chaos);
  const clockOffsetsMs = o.clockOffsetsMs ?? [];
  if (!Array.isArray(clockOffsetsMs) || !clockOffsetsMs.every((ms) => Number.isSafeInteger(ms) && Math.abs(ms as number) <= 3_600_000)) {
    top.fail('clockOffsetsMs', `must be an array of whole ms from -3600000 to 3600000 (e.g. [-2000, 2000]), got ${JSON.stringify(o.clockOffsetsMs)}`);
  }

  if (o.thresholds !== undefined && (!Array.isArray(o.thresholds) || !o.thresholds.every((t) => typeof t === 'string'))) {
    top.fail('thresholds', `must be an array of strings like "p99<150ms", got ${JSON.stringify(o.thresholds)}`);
  }
  const thresholds = ((o.thresholds as string[] | undefined) ?? []).map((t, i) => {
    try {
      return parseThreshold(t);
    } catch (error) {
      if (error instanceof ThresholdError) return top.fail(`thresholds[${i}]`, error.message);
      throw error;
    }
  });

  return {
    name: typeof o.name === 'string' ? o.name : file,
    description: typeof o.description === 'string' ? o.description : '',
    skus,
    buyers: top.number('buyers', 1, 1e9, 100_000),
    qty: top.number('qty', 1, 10_000, 1),
    bots: botShares,
    tokens: o.tokens === true,
    auth,
    load: {
      connections: load.number('connections', 1, 10_000, 50),
      requests: load.number('requests', 1, 1e8, 10_000),
      durationSec: load.number('durationSec', 1, 600, 10),
      rate: load.o.rate === undefined || load.o.rate === null ? null : load.number('rate', 1, 1e7),
      arrival: load.o.arrival === undefined || load.o.arrival === null ? null : parseArrival(file, load.o.arrival),
      maxInFlight: load.o.maxInFlight === undefined || load.o.maxInFlight === null ? null : load.number('maxInFlight', 1, 1e6),
    },
    payment: payment && { payTimeoutSec: payment.number('payTimeoutSec', 1, 86_400), payShare: payment.number('payShare', 0, 1, 1, false) },
    expect: { sellOut: (expect.o.sellOut as boolean | undefined) ?? false },
    drainTimeoutSec: top.number('drainTimeoutSec', 1, 3_600, 60),
    faults,
    chaos,
    workers: o.workers === undefined || o.workers === null ? null : top.number('workers', 1, 64),
    clockOffsetsMs: clockOffsetsMs as number[],
    thresholds,
  };
};

export const loadScenario = (file: string): Scenario => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ScenarioError(`cannot read scenario ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseScenario(file, text);
};
