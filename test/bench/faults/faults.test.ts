import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScenario } from '../../../src/bench/scenario.js';
import { connections } from '../../helpers.js';
import { startOwnBroker, type OwnBroker } from '../../own-broker.js';
import { TEST_DEFAULTS } from '../../test-env.js';
import type { BenchReportJson } from '../../../src/bench/report/report.js';

const run = promisify(execFile);

type Report = BenchReportJson;

const testEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  REDIS_URL: connections.redisUrl,
  MYSQL_URL: connections.mysqlUrl,
  KAFKA_BROKERS: TEST_DEFAULTS.KAFKA_BROKERS,
  ...extra,
});

/**
 * `seckill bench scenarios/faults-<kind>.json --json` through the real CLI.
 * An exit 1 (an invariant broke) still has its report: returned, so the
 * assertions name the invariant; any other failure rejects with its stderr.
 */
const benchFault = async (kind: string, env: NodeJS.ProcessEnv = testEnv()): Promise<Report> => {
  try {
    const { stdout } = await run(process.execPath, ['bin/seckill', 'bench', `scenarios/faults-${kind}.json`, '--json'], {
      env,
      timeout: 150_000,
      maxBuffer: 16 << 20,
    });
    return JSON.parse(stdout) as Report;
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    if (failed.code === 1 && failed.stdout) return JSON.parse(failed.stdout) as Report;
    throw error;
  }
};

/** One bench run: ~8 s of load, the fault's recovery, the drain. */
const RUN_TIMEOUT = 150_000;

/** Every fault scenario sells 5,000 units and expects them all sold. */
const STOCK = 5_000;

const expectSurvived = (report: Report, kind: string): Report['runs'][number] => {
  expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.invariants).toHaveLength(11);
  const [runOf] = report.runs;
  expect(runOf.faults).toEqual({ [kind]: 1 });
  expect([runOf.sold, runOf.stock, runOf.drift]).toEqual([STOCK, 0, 0]);
  return runOf;
};

describe('seckill bench: faults injected mid-sale', () => {
  it(
    'a consumer SIGKILLed mid-sale and restarted loses and doubles no order',
    async () => {
      expectSurvived(await benchFault('kill-consumer'), 'kill-consumer');
    },
    RUN_TIMEOUT,
  );

  it(
    'a relay SIGKILLed mid-sale and restarted delivers every outbox entry it held',
    async () => {
      expectSurvived(await benchFault('kill-relay'), 'kill-relay');
    },
    RUN_TIMEOUT,
  );

  it(
    'a server SIGKILLed mid-sale and restarted on its port: every reservation made reaches MySQL, cut buyers are the only unanswered orders',
    async () => {
      const runOf = expectSurvived(await benchFault('kill-server'), 'kill-server');
      // The gap was real: requests failed while no server listened.
      expect(runOf.errors).toBeGreaterThan(0);
    },
    RUN_TIMEOUT,
  );

  it(
    "the consumer's MySQL connections KILLed again and again: its transactions are retried, nothing lost or doubled",
    async () => {
      expectSurvived(await benchFault('kill-mysql-connections'), 'kill-mysql-connections');
    },
    RUN_TIMEOUT,
  );

  it(
    'Redis SIGKILLed mid-sale and restarted from its append-only file: every acknowledged reservation survives',
    async () => {
      const runOf = expectSurvived(await benchFault('restart-redis'), 'restart-redis');
      expect(runOf.outcomes.REDIS_DOWN).toBeGreaterThan(0);
    },
    RUN_TIMEOUT,
  );

  describe('with a broker of its own', () => {
    // Not the suite's broker: stopping a shared broker would pull Kafka from under anyone else using it.
    let broker: OwnBroker;
    beforeAll(async () => {
      broker = await startOwnBroker('faults-test');
    }, 120_000);
    afterAll(() => broker.remove(), 60_000);
    const withOwnBroker = () => testEnv({ KAFKA_BROKERS: broker.brokers, SECKILL_KAFKA_DIR: broker.dir });

    // Kafka stopped mid-sale (the outbox holds the orders, the backlog drains once it is back) is seed 21's
    // first fault: its run is that fault and one more, so the stop-kafka scenario alone is not run again.
    // Seeds that broke before: each is the run that reproduces its break, kept as a test.
    it.each([
      [21, 'Kafka stopped, and the relay SIGKILLed and started again while Kafka is down: every order reaches MySQL'],
      [41, 'kill-consumer drawn twice on the same process: the second waits for the first restart, and bench stops by itself'],
    ])(
      'chaos seed %i: %s',
      async (seed) => {
        const { stdout } = await run(process.execPath, ['bin/seckill', 'bench', 'chaos', '--seed', String(seed), '--json'], {
          env: withOwnBroker(),
          timeout: 240_000,
          maxBuffer: 16 << 20,
        });
        const report = JSON.parse(stdout) as Report;
        expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
        expect(report.runs[0]).toMatchObject({ sold: 3_000, stock: 0, drift: 0 });
        expect(Object.values(report.runs[0].faults).reduce((a, b) => a + b, 0)).toBe(2);
        if (seed === 21) expect(report.runs[0].faults).toEqual({ 'stop-kafka': 1, 'kill-relay': 1 });
      },
      300_000,
    );
  });

  it('refuses, before starting anything, a fault the run cannot inject (exit 2, the fault named)', async () => {
    const failure = await run(process.execPath, ['bin/seckill', 'bench', 'scenarios/faults-kill-relay.json', '--queue', 'redis'], { env: testEnv() }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('fault kill-relay: with --queue redis there is no relay');

    // The suite's broker is not run from the state dir bench would stop: stop-kafka is refused, not attempted.
    const elsewhere = await run(process.execPath, ['bin/seckill', 'bench', 'scenarios/faults-stop-kafka.json'], {
      env: testEnv({ SECKILL_KAFKA_DIR: '.seckill/no-broker-here' }),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(elsewhere).toMatchObject({ code: 2 });
    expect((elsewhere as { stderr: string }).stderr).toContain('fault stop-kafka: bench stops only a local broker');
  });

  it('validates faults in scenario files with errors naming the field', () => {
    const scenario = (faults: unknown) => JSON.stringify({ skus: [{ sku: 'f-1', stock: 1 }], faults });
    expect(() => parseScenario('x.json', scenario([{ at: '2s', do: 'kill-everything' }]))).toThrow(
      'x.json: faults[0].do must be one of kill-consumer, kill-relay, kill-server, stop-kafka, kill-mysql-connections, restart-redis',
    );
    expect(() => parseScenario('x.json', scenario([{ at: 2, do: 'kill-relay' }]))).toThrow('x.json: faults[0].at must be a duration like "500ms" or "2s"');
    expect(() => parseScenario('x.json', scenario([{ at: '1s', do: 'stop-kafka', for: '3 s' }]))).toThrow('x.json: faults[0].for must be a duration');
    expect(() => parseScenario('x.json', scenario([{ at: '1s', do: 'stop-kafka', when: 'now' }]))).toThrow('x.json: faults[0].when is not a known field');
    expect(() => parseScenario('x.json', scenario({ at: '1s' }))).toThrow('x.json: faults must be an array');
    expect(
      parseScenario(
        'x.json',
        scenario([
          { at: '1.5s', do: 'kill-server' },
          { at: '500ms', do: 'kill-consumer', for: '0ms' },
        ]),
      ).faults,
    ).toEqual([
      { atMs: 500, kind: 'kill-consumer', forMs: 0 },
      { atMs: 1500, kind: 'kill-server', forMs: 2000 },
    ]);
  });
});
