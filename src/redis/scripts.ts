import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.js';

/** lua/ sits two folders above both src/redis and dist/redis. */
const LUA_DIR = new URL('../../lua/', import.meta.url);

const INCLUDE = /^--- @include "([a-z-]+)"$/gm;

/** Reads a script and pastes in its `--- @include "name"` files (lua/includes/name.lua). */
export const readScript = (name: string): string =>
  readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8').replace(INCLUDE, (_line, include: string) =>
    readFileSync(new URL(`includes/${include}.lua`, LUA_DIR), 'utf8'),
  );

export type ScriptCall = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Registers a script with ioredis `defineCommand`, which sends EVALSHA and
 * falls back to EVAL on NOSCRIPT (e.g. after a Redis restart). The command
 * name carries the script's content hash, so two versions of a script can
 * never be confused on one connection.
 */
export const defineScript = (redis: RedisClient, name: string, numberOfKeys: number): ScriptCall => {
  const lua = readScript(name);
  const version = createHash('sha1').update(lua).digest('hex').slice(0, 8);
  const command = `seckill_${name.replace(/-/g, '_')}_${version}`;
  redis.defineCommand(command, { numberOfKeys, lua });
  const fn = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[command]!.bind(redis);
  return (keys, args) => fn(...keys, ...args);
};
