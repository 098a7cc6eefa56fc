import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { newRedis, uniqueSku, runSeckill } from '../helpers.js';

const redis = newRedis();
afterAll(() => redis.quit());

// A broker nobody listens on: a bad flag must be refused before Kafka is ever asked.
const seckill = (...args: string[]) => runSeckill(args, { KAFKA_BROKERS: '127.0.0.1:1' }, 30_000);

const dir = mkdtempSync(join(tmpdir(), 'seckill-scenarios-'));
const sku = uniqueSku('bad-scenario');
const scenarioFile = (name: string, content: string) => {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, content);
  return file;
};
const valid = { name: 'x', skus: [{ sku, stock: 10 }] };
const variant = (patch: Record<string, unknown>) => JSON.stringify({ ...valid, ...patch });

describe('a bad scenario file', () => {
  // Each case is a CLI process of its own, the cost of which is starting node: run side by side.
  it.concurrent.for([
    ['not JSON', '{"skus": [', 'is not valid JSON'],
    ['no skus', JSON.stringify({ name: 'x' }), 'skus must be a non-empty array'],
    ['a bad sku id', variant({ skus: [{ sku: 'a b', stock: 1 }] }), 'skus[0].sku must match'],
    ['negative stock', variant({ skus: [{ sku, stock: -1 }] }), 'skus[0].stock must be a whole number'],
    ['an unknown field', variant({ buyer: 5 }), 'buyer is not a known field'],
    ['bot shares over 1', variant({ bots: { retries: 0.6, hammer: 0.6 } }), 'bots shares add up to more than 1'],
    ['zero connections', variant({ load: { connections: 0 } }), 'load.connections must be a whole number from 1'],
    [
      'a window that ends before it starts',
      variant({ skus: [{ sku, stock: 1, startsAt: '2030-01-02T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' }] }),
      'skus[0].endsAt must be after startsAt',
    ],
    [
      'a sku listed twice',
      variant({
        skus: [
          { sku, stock: 1 },
          { sku, stock: 2 },
        ],
      }),
      `lists ${sku} twice`,
    ],
    ['an unknown auth', variant({ auth: 'oauth' }), 'auth must be one of none, jwt, got "oauth"'],
    ['impostors without sign-in', variant({ bots: { badIdentity: 0.1 } }), 'bots.badIdentity needs "auth": "jwt"'],
    [
      'a malformed threshold',
      variant({ thresholds: ['p99<150ms', 'p99 under 150ms'] }),
      'thresholds[1] threshold "p99 under 150ms": is not [strategy:]metric<op>value',
    ],
    ['a threshold on an unknown metric', variant({ thresholds: ['p98<150ms'] }), 'unknown metric "p98" (metrics: p25, p50'],
    ['a ceiling threshold without the ceiling', variant({ thresholds: ['ceiling>=0.7'] }), 'ceiling needs a ceiling run to divide by'],
    ['an unknown arrival shape', variant({ load: { arrival: { shape: 'burst' } } }), 'load.arrival.shape must be one of constant, ramp, spike, got "burst"'],
    ['a spike without its peak', variant({ load: { arrival: { shape: 'spike' } } }), 'load.arrival.peak must be a whole number from 1'],
    ['an open crowd with a closed rate', variant({ load: { rate: 100, arrival: { shape: 'constant', rate: 100 } } }), 'load.arrival is an open crowd'],
  ])('with %s: bench names the problem, exits 2, and starts and changes nothing', async ([name, content, message], { expect }) => {
    const run = await seckill('bench', scenarioFile(name.replace(/\W+/g, '-'), content));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(await redis.exists(...Object.values(skuKeys(sku)))).toBe(0);
  });
});

describe('bad flags', () => {
  it.concurrent.for([
    [['serve', '--port', '70000'], '--port must be a whole number from 0 to 65535'],
    [['serve', '--strategy', 'fastest'], "argument 'fastest' is invalid"],
    [['serve', '--metrics-port', 'x'], '--metrics-port must be a whole number from 0 to 65535, got "x"'],
    [['serve', '--port', '8080', '--metrics-port', '8080'], '--metrics-port 8080 is --port too'],
    [['serve', '--metrics-host', '0.0.0.0'], '--metrics-host is the address of the operator port: give --metrics-port too'],
    [['serve', '--redis-url', 'http://127.0.0.1'], 'REDIS_URL must start with redis:'],
    [['relay', '--queue', 'redis'], 'nothing to relay'],
    [['consume', '--batch-size', '0'], '--batch-size must be a whole number from 1'],
    [['consume', '--kafka-brokers', 'no port'], 'KAFKA_BROKERS must be host:port'],
    [['bench', 'smoke', '--compare', 'seckill,fastest'], 'unknown strategy "fastest"'],
    [['bench', 'no-such-scenario'], 'cannot read scenario'],
    [['bench', 'smoke', '--auth', 'none,oauth'], '--auth must list none and/or jwt (each once), got "none,oauth"'],
    [['bench', 'smoke', '--auth', 'jwt,jwt'], '--auth must list none and/or jwt (each once)'],
    [
      ['bench', 'smoke', '--target', 'http://127.0.0.1:1', '--auth', 'jwt'],
      '--target benches the one server it names: no --strategy, --compare, --auth or --buckets',
    ],
    [['bench', 'smoke', '--target', 'http://127.0.0.1:1', '--buckets', '3'], 'its buckets what its sale was preloaded with'],
    [['bench', 'smoke', '--buckets', '0'], '--buckets must be a whole number from 1'],
    [['bench', 'smoke', '--arrival', 'burst'], '--arrival must list closed, constant, ramp, spike (each once), like spike or closed,spike, got "burst"'],
    [['bench', 'smoke', '--arrival', 'spike,spike'], '--arrival must list closed, constant, ramp, spike (each once)'],
    [['bench', 'smoke', '--arrival', 'spike', '--arrival-rate', '0'], '--arrival-rate must be a whole number from 1'],
    [['bench', 'smoke', '--target', 'http://127.0.0.1:1', '--arrival', 'closed,spike'], 'give --arrival one model'],
    [['reconcile', '--grace', '-1'], '--grace'],
    [['reconcile', '--metrics-port', '9467'], '--metrics-port serves the rounds of --watch'],
    [['bench', 'smoke', '--html', '/no/such/folder/report.html'], 'the folder /no/such/folder does not exist'],
    [['bench', 'smoke', '--junit', '/no/such/folder/junit.xml'], '--junit /no/such/folder/junit.xml: the folder /no/such/folder does not exist'],
    [['bench', 'smoke', '--threshold', 'p99<<150ms'], 'threshold "p99<<150ms": is not [strategy:]metric<op>value (e.g. p99<150ms'],
    [['bench', 'smoke', '--threshold', 'p99<1ms', '--threshold', 'p42<1ms'], 'unknown metric "p42" (metrics: p25, p50, p75, p90, p95, p99,'],
    [['bench', 'smoke', '--threshold', 'p99<150'], 'p99 is a latency: give its unit, ms or s'],
    [['bench', 'smoke', '--threshold', 'mysql-update:p99<1s'], 'mysql-update is not in this run (strategies: seckill)'],
    [['bench', 'smoke', '--strategy', 'mysql-update', '--threshold', 'p99<1s'], 'name the strategy, e.g. mysql-update:p99<1s'],
    [['bench', 'smoke', '--seeds', '1-2', '--junit', 'junit.xml'], '--junit: for one judged bench run only, not with --seeds'],
    [['preload', '--sku', 'a', '--stock', '1', '--mysql-url', 'postgres://x'], 'MYSQL_URL must start with mysql:'],
    [['nonsense'], "unknown command 'nonsense'"],
  ] as [string[], string][])('%j: a message naming the problem and exit code 2', async ([args, message], { expect }) => {
    const run = await seckill(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe('seckill --version', () => {
  it.each(['--version', '-V'])('%s prints the version of package.json and exits 0', async (flag) => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const run = await runSeckill([flag]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });
});
