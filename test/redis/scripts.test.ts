import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { defineScript, keyCountOf, readScript } from '../../src/redis/scripts.js';
import { newRedis } from '../helpers.js';

/** What the script loader checks, over every script in lua/. */

const redis = newRedis();
afterAll(() => redis.quit());

const scripts = readdirSync(new URL('../../lua/', import.meta.url))
  .filter((file) => file.endsWith('.lua'))
  .map((file) => file.slice(0, -'.lua'.length));

describe('the Lua scripts as the loader reads them', () => {
  it.each(scripts)(
    '%s: its header lists every key its code uses, and no other but one that only routes the call (the count ioredis is given comes from the header)',
    (name) => {
      const lua = readScript(name);
      const header = /^--\[\[[\s\S]*?\]\]/.exec(lua)![0];
      const used = new Set([...lua.slice(header.length).matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      const routing = new Set([...header.matchAll(/^\s*KEYS\[(\d+)\].*only routes/gm)].map((m) => Number(m[1])));
      const listed = Array.from({ length: keyCountOf(name, lua) }, (_, i) => i + 1);
      expect(listed.filter((i) => !routing.has(i))).toEqual([...used].sort((a, b) => a - b));
    },
  );

  it.each(scripts)('%s: every include is pasted in, once', (name) => {
    const lua = readScript(name);
    expect(lua).not.toMatch(/^--- @include/m);
    const locals = [...lua.matchAll(/^local function (\w+)/gm)].map((m) => m[1]);
    expect(new Set(locals).size).toBe(locals.length);
  });

  it('refuses a header that skips a key, and a call with another number of keys than the header lists', async () => {
    expect(() => keyCountOf('broken', '--[[\n  KEYS[1] a\n  KEYS[3] c\n]]\nreturn 1')).toThrow(/each of KEYS\[1\] … KEYS\[n\] once/);
    const release = defineScript(redis, 'release');
    await expect(release(['only-one-key'], [])).rejects.toThrow('lua/release.lua takes 4 keys, called with 1');
  });
});
