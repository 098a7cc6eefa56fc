import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Outcome } from '../../src/sale/outcomes.js';

describe('outcome names', () => {
  it('are the same in Lua and TypeScript, so a script cannot answer a name the gateway does not know', () => {
    const lua = readFileSync(new URL('../../lua/includes/outcomes.lua', import.meta.url), 'utf8');
    const luaNames = [...lua.matchAll(/^\s+([A-Z_]+) = '([A-Z_]+)',$/gm)].map((m) => {
      expect(m[1]).toBe(m[2]);
      return m[1];
    });
    expect(luaNames.sort()).toEqual(Object.keys(Outcome).sort());
  });
});
