import { readFileSync } from 'node:fs';
import type { SkuDefinition } from '../sale/catalog.js';
import { SKU_PATTERN } from '../sale/ids.js';

/** A scenario file (scenarios/*.json): the sale it describes. */
export interface Scenario {
  name: string;
  skus: SkuDefinition[];
}

export class ScenarioError extends Error {
  readonly code = 'SCENARIO';
}

type Json = Record<string, unknown>;

const fail = (file: string, field: string, problem: string): never => {
  throw new ScenarioError(`${file}: ${field} ${problem}`);
};

const wholeNumber = (file: string, field: string, value: unknown, min: number): number => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(file, field, `must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value as number;
};

const time = (file: string, field: string, value: unknown): number | null => {
  if (value === undefined || value === null) return null;
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) fail(file, field, `must be an ISO 8601 time, got ${JSON.stringify(value)}`);
  return ms;
};

const parseSku = (file: string, field: string, raw: unknown): SkuDefinition => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, field, 'must be an object');
  const o = raw as Json;
  if (typeof o.sku !== 'string' || !SKU_PATTERN.test(o.sku)) {
    fail(file, `${field}.sku`, `must match ${SKU_PATTERN}, got ${JSON.stringify(o.sku)}`);
  }
  const def: SkuDefinition = {
    sku: o.sku as string,
    stock: wholeNumber(file, `${field}.stock`, o.stock, 0),
    limit: wholeNumber(file, `${field}.limit`, o.limit ?? 1, 1),
    startsAt: time(file, `${field}.startsAt`, o.startsAt),
    endsAt: time(file, `${field}.endsAt`, o.endsAt),
  };
  if (def.startsAt !== null && def.endsAt !== null && def.endsAt <= def.startsAt) {
    fail(file, `${field}.endsAt`, 'must be after startsAt');
  }
  return def;
};

export const parseScenario = (file: string, text: string): Scenario => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(file, 'file', `is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(file, 'file', 'must hold a JSON object');
  const o = raw as Json;
  if (!Array.isArray(o.skus) || o.skus.length === 0) return fail(file, 'skus', 'must be a non-empty array');
  const skus = o.skus.map((s, i) => parseSku(file, `skus[${i}]`, s));
  const seen = new Set<string>();
  for (const s of skus) {
    if (seen.has(s.sku)) fail(file, 'skus', `lists ${s.sku} twice`);
    seen.add(s.sku);
  }
  return { name: typeof o.name === 'string' ? o.name : file, skus };
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
