import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.js';

/** lua/ sits two folders above both src/redis and dist/redis. */
const LUA_DIR = new URL('../../lua/', import.meta.url);

const INCLUDE = /^--- @include "([a-z-]+)"$/gm;

/**
 * Reads a script and pastes in its `--- @include "name"` files
 * (lua/includes/name.lua), and theirs in turn; each file once, where it is
 * first included (a second include of it is dropped, so no local is declared twice).
 */
export const readScript = (name: string): string => {
  const included = new Set<string>();
  const expand = (text: string): string =>
    text.replace(INCLUDE, (_line, include: string) => {
      if (included.has(include)) return '';
      included.add(include);
      return expand(readFileSync(new URL(`includes/${include}.lua`, LUA_DIR), 'utf8'));
    });
  return expand(readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8'));
};

/** A line of a script's header that documents a key: `  KEYS[2] {sku}:meta …`. */
const KEY_LINE = /^\s*KEYS\[(\d+)\]/gm;

/**
 * How many keys a script takes, as its header comment lists them (`KEYS[1]`
 * … `KEYS[n]`, each once, none left out): the count ioredis needs is read
 * where the keys are documented, never typed at a call site far from it.
 */
export const keyCountOf = (name: string, lua: string): number => {
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1];
  if (header === undefined) throw new Error(`lua/${name}.lua does not open with a --[[ … ]] header listing its KEYS`);
  const listed = [...header.matchAll(KEY_LINE)].map((m) => Number(m[1]));
  const count = listed.length;
  if (new Set(listed).size !== count || listed.some((i) => i < 1 || i > count)) {
    throw new Error(`lua/${name}.lua's header lists KEYS ${listed.join(', ')}: each of KEYS[1] … KEYS[n] once`);
  }
  return count;
};

export type ScriptCall = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Registers a script with ioredis `defineCommand`, which sends EVALSHA and
 * falls back to EVAL on NOSCRIPT (e.g. after a Redis restart). The command
 * name carries the script's content hash, so two versions of a script can
 * never be confused on one connection. A call with another number of keys
 * than the header lists is refused before it reaches Redis.
 */
export const defineScript = (redis: RedisClient, name: string): ScriptCall => {
  const lua = readScript(name);
  const numberOfKeys = keyCountOf(name, lua);
  const version = createHash('sha1').update(lua).digest('hex').slice(0, 8);
  const command = `seckill_${name.replace(/-/g, '_')}_${version}`;
  redis.defineCommand(command, { numberOfKeys, lua });
  const fn = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[command].bind(redis);
  return (keys, args) => {
    if (keys.length !== numberOfKeys) return Promise.reject(new Error(`lua/${name}.lua takes ${numberOfKeys} keys, called with ${keys.length}`));
    return fn(...keys, ...args);
  };
};
