import { describe, expect, it } from 'vitest';
import { busiestMaster, parseScriptTime, scriptTimeBetween, type ScriptTime } from '../../src/redis/command-stats.js';

const reading = (byMaster: ScriptTime['byMaster']): ScriptTime => ({
  calls: Object.values(byMaster).reduce((n, m) => n + m.calls, 0),
  usec: Object.values(byMaster).reduce((n, m) => n + m.usec, 0),
  byMaster,
});

describe('script time per master (bench: Redis µs per 201 on the busiest master)', () => {
  it('sums EVALSHA and EVAL from INFO commandstats, nothing else', () => {
    const info = 'cmdstat_evalsha:calls=10,usec=300,usec_per_call=30.00\r\ncmdstat_eval:calls=2,usec=50,usec_per_call=25.00\r\ncmdstat_get:calls=99,usec=99';
    expect(parseScriptTime(info)).toEqual({ calls: 12, usec: 350 });
  });

  it("takes each master's own difference, and names the master that spent the most over the window, not the most ever", () => {
    const before = reading({ a: { calls: 100, usec: 9_000 }, b: { calls: 0, usec: 0 } });
    const after = reading({ a: { calls: 110, usec: 9_100 }, b: { calls: 50, usec: 2_000 }, c: { calls: 5, usec: 40 } });
    const window = scriptTimeBetween(before, after);
    expect(window.byMaster).toEqual({ a: { calls: 10, usec: 100 }, b: { calls: 50, usec: 2_000 }, c: { calls: 5, usec: 40 } });
    expect(window).toMatchObject({ calls: 65, usec: 2_140 });
    expect(busiestMaster(window)).toEqual({ calls: 50, usec: 2_000 });
  });
});
