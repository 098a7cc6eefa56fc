import { describe, expect, it } from 'vitest';
import { drawFaults, scenarioForSeed } from '../../../src/bench/faults/chaos.js';
import { FAULT_KINDS } from '../../../src/bench/faults/kinds.js';
import { injectFaults } from '../../../src/bench/faults/inject.js';
import { type FaultTargets } from '../../../src/bench/faults/targets.js';
import { loadScenario, parseScenario } from '../../../src/bench/scenario.js';

describe('chaos', () => {
  const chaos = { faults: 3, withinMs: 6_000, maxForMs: 2_000, kinds: [...FAULT_KINDS] };

  it('draws the same faults from the same seed, so a break can be replayed', () => {
    expect(drawFaults(chaos, 7)).toEqual(drawFaults(chaos, 7));
    expect(drawFaults(chaos, 7)).not.toEqual(drawFaults(chaos, 8));
  });

  it('draws faults within the bounds it was given, in firing order', () => {
    for (let seed = 0; seed < 200; seed++) {
      const faults = drawFaults({ ...chaos, kinds: ['kill-consumer', 'stop-kafka'] }, seed);
      expect(faults).toHaveLength(3);
      expect(faults.map((f) => f.atMs)).toEqual([...faults.map((f) => f.atMs)].sort((a, b) => a - b));
      for (const f of faults) {
        expect(['kill-consumer', 'stop-kafka']).toContain(f.kind);
        expect(f.atMs).toBeGreaterThanOrEqual(300);
        expect(f.atMs).toBeLessThanOrEqual(6_000);
        expect(f.forMs).toBeGreaterThanOrEqual(200);
        expect(f.forMs).toBeLessThanOrEqual(2_000);
      }
    }
  });

  it('gives scenarios/chaos.json its drawn faults per seed, and leaves a scenario without chaos as it is', () => {
    const scenario = loadScenario('scenarios/chaos.json');
    expect(scenario.faults).toEqual([]);
    expect(scenarioForSeed(scenario, 1).faults).toHaveLength(2);
    const smoke = loadScenario('scenarios/smoke.json');
    expect(scenarioForSeed(smoke, 1)).toBe(smoke);
  });

  it('refuses a chaos block with an unknown fault kind, naming the field', () => {
    const text = JSON.stringify({ skus: [{ sku: 'a', stock: 1 }], chaos: { faults: 1, kinds: ['unplug-datacenter'] } });
    expect(() => parseScenario('x.json', text)).toThrow('x.json: chaos.kinds must be a non-empty array of');
  });
});

describe('faults drawn on the same target', () => {
  /** Fake targets that record what was done to them: the order of kills and starts is pure logic. */
  const recorder = () => {
    const log: string[] = [];
    let alive = true;
    let pid = 100;
    const targets: FaultTargets = {
      kill: (role) => {
        log.push(`kill ${role} ${alive ? 'running' : 'ALREADY DOWN'}`);
        alive = false;
        return Promise.resolve(pid);
      },
      start: (role) => {
        log.push(`start ${role} ${alive ? 'A SECOND ONE' : 'after its kill'}`);
        alive = true;
        return Promise.resolve(++pid);
      },
      pid: () => pid,
      serveWorkers: () => ({
        pids: () => Promise.resolve([...workers]),
        replace: (worker, signal) => {
          log.push(`${signal} worker ${worker}${workers.includes(worker) ? '' : ' GONE ALREADY'}`);
          const replacement = ++pid;
          workers = [...workers.filter((w) => w !== worker), replacement];
          log.push(`worker ${replacement} listens`);
          return Promise.resolve(replacement);
        },
      }),
      kafka: null,
      redis: null,
      redisCluster: null,
      mysqlUrl: '',
    };
    let workers = [11, 12];
    return { log, targets };
  };

  it('take turns: a second kill of the consumer waits for the first restart and hits the one that runs (never two consumers)', async () => {
    const { log, targets } = recorder();
    const run = injectFaults(
      [
        { kind: 'kill-consumer', atMs: 0, forMs: 150 },
        { kind: 'kill-consumer', atMs: 20, forMs: 50 },
      ],
      targets,
      () => {},
    );
    await run.done;
    expect(log).toEqual(['kill consume running', 'start consume after its kill', 'kill consume running', 'start consume after its kill']);
    expect(run.counts).toEqual({ 'kill-consumer': 2 });
  });

  it("a rolling restart stops each worker once its predecessor's replacement listens, and a worker SIGKILLed meanwhile waits its turn; recovery is timed from the last", async () => {
    const { log, targets } = recorder();
    const started = Date.now();
    const run = injectFaults(
      [
        { kind: 'restart-workers', atMs: 0, forMs: 30 },
        { kind: 'kill-worker', atMs: 10, forMs: 0 },
      ],
      targets,
      () => {},
      started,
    );
    await run.done;
    expect(log).toEqual(['SIGTERM worker 11', 'worker 101 listens', 'SIGTERM worker 12', 'worker 102 listens', 'SIGKILL worker 101', 'worker 103 listens']);
    expect(run.counts).toEqual({ 'restart-workers': 1, 'kill-worker': 1 });
    expect(run.recoveredAt).toBeGreaterThanOrEqual(started + 30);
  });
});
