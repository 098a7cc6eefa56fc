import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { OwnRedis } from '../../src/bench/servers/own-redis.js';
import { freePort } from '../../src/bench/servers/ports.js';
import { postJson, preloadSku, runSeckill, startSeckill, testMysql, uniqueSku, type RunningProcess } from '../helpers.js';
import { Redis } from 'ioredis';

/**
 * Processes started while a dependency is down (a supervisor restarting them
 * during an outage) wait for it, with a bound; a wrong address still fails
 * clearly.
 */

const running: RunningProcess[] = [];
const redisServers: OwnRedis[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(redisServers.splice(0).map((r) => r.stop()));
});
afterAll(async () => (await testMysql()).end());

/** A redis-server of the test's own, down: started again later on the same port. */
const redisThatIsDown = async (): Promise<OwnRedis> => {
  const redis = await OwnRedis.start();
  redisServers.push(redis);
  await redis.kill('SIGKILL');
  return redis;
};

/**
 * Starts the command against the Redis that is down, and brings that Redis up
 * only once the command has logged its second failed attempt (not after a
 * fixed pause: on a loaded machine node may not have tried yet by then).
 */
const startDuringOutage = async (redis: OwnRedis, command: string, args: string[]): Promise<RunningProcess> => {
  let tried!: () => void;
  const triedTwice = new Promise<void>((r) => (tried = r));
  let log = '';
  const starting = startSeckill(
    command,
    [...args, '--wait', '60'],
    { REDIS_URL: redis.url },
    {
      onLog: (text) => {
        log += text;
        if (log.includes('Redis not reachable (attempt 2)')) tried();
      },
    },
  );
  // A start that ends (ready or failed) before trying twice fails the test here, with what it said.
  await Promise.race([triedTwice, starting.then(() => Promise.reject(new Error(`${command} started before Redis was up: ${log}`)))]);
  await redis.launch();
  const started = await starting;
  running.push(started);
  return started;
};

describe('a process started while Redis is down', () => {
  it.each([
    ['serve', ['--port', '0']],
    ['consume', ['--queue', 'redis']],
    ['relay', []],
  ])(
    '%s waits for it (logging each attempt) and starts once it answers',
    async (command, args) => {
      const started = await startDuringOutage(await redisThatIsDown(), command, args);
      expect(started.stderr()).toContain('Redis not reachable (attempt 1)');
      expect(started.stderr()).toMatch(/Redis: connected after \d+ attempts/);
    },
    60_000,
  );

  it('serve started during the outage then sells through that Redis', async () => {
    const redis = await redisThatIsDown();
    const server = await startDuringOutage(redis, 'serve', ['--port', '0']);
    const client = new Redis(redis.url);
    try {
      const { sku } = await preloadSku(client, { sku: uniqueSku('late-redis'), stock: 1 });
      expect((await postJson(`${server.ready.listening as string}/reserve`, { sku, userId: 'u1' })).status).toBe(201);
    } finally {
      client.disconnect();
    }
  }, 60_000);
});

describe('a process started against a wrong address', () => {
  it('fails at once, naming the address, when the host does not resolve', async () => {
    const started = Date.now();
    const run = await runSeckill(['serve', '--port', '0'], { REDIS_URL: 'redis://no-such-host.invalid:6379' }, 30_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cannot reach Redis at redis://no-such-host.invalid:6379');
    expect(run.stderr).toContain('ENOTFOUND');
    // Not the whole --wait of 60 s: a name that does not resolve is not an outage.
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 40_000);

  it('fails clearly once --wait has passed when nothing ever answers there', async () => {
    const port = await freePort();
    const run = await runSeckill(['consume', '--queue', 'redis', '--wait', '2'], { REDIS_URL: `redis://127.0.0.1:${port}` }, 30_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Redis did not answer within 2 s (--wait)');
    expect(run.stderr).toContain(`127.0.0.1:${port}`);
  }, 40_000);
});
