import { Agent, request } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { skuKeys } from '../../src/redis/keys.js';
import {
  holdReserve,
  isAlive,
  metricValue,
  preloadSku,
  type RunningServer,
  runSeckill,
  scrapeMetrics,
  sendHttp,
  serversOfFile,
  startMysqlProxy,
  uniqueSku,
  waitFor,
} from '../helpers.js';

/**
 * `seckill serve --workers N`: a primary and N worker processes on one port,
 * tested as real processes (kill -9 and SIGTERM are the point).
 */

const { redis, start, trackWorkers } = serversOfFile();

/** Starts `serve --workers 2` (on --port 0, see helpers) and returns it with the worker pids of its ready line. */
const startFleet = async (args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ fleet: RunningServer; workers: number[] }> => {
  const fleet = await start(['--workers', '2', ...args], env);
  const workers = fleet.ready.workers as number[];
  trackWorkers(...workers);
  return { fleet, workers };
};

/** The worker that answers a new connection: GET /metrics names it in a header. */
const workerAnswering = async (url: string): Promise<number> => {
  const answer = await sendHttp(`${url}/metrics`);
  expect(answer.status).toBe(200);
  return Number(answer.headers['x-seckill-worker']);
};

/** POST /reserve on a connection of its own (so node's cluster module hands each to the next worker in turn). */
const reserveAlone = async (url: string, body: Record<string, unknown>): Promise<number> =>
  (await sendHttp(`${url}/reserve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;

/** POST /reserve on a shared keep-alive agent: many connections, each to one worker. */
const reserveOn = (agent: Agent, url: string, body: Record<string, unknown>): Promise<number> =>
  new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      `${url}/reserve`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });

const requestsCounted = (text: string): number =>
  text
    .split('\n')
    .filter((line) => line.startsWith('seckill_reserve_requests_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

describe('seckill serve --workers 2', () => {
  it('serves one port from two worker processes: new connections reach both pids of the ready line, neither is the primary', async () => {
    const { fleet, workers } = await startFleet();
    expect(workers).toHaveLength(2);
    expect(new Set(workers).size).toBe(2);
    expect(workers).not.toContain(fleet.ready.pid);
    expect(fleet.process.pid).toBe(fleet.ready.pid);

    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(await workerAnswering(fleet.url));
    expect([...seen].sort()).toEqual([...workers].sort());
  });

  it('answers /metrics on any worker with the fleet sum: requests counted over all outcomes equal the requests sent', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('fleet-metrics'), stock: 5, limit: 1 });
    const { fleet } = await startFleet();
    const sent = 40;
    const statuses: number[] = [];
    for (let i = 0; i < sent; i++) statuses.push(await reserveAlone(fleet.url, { sku, userId: `u${i}`, requestId: `r${i}` }));
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);

    const scrapedFrom = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const answer = await sendHttp(`${fleet.url}/metrics`);
      expect(answer.status).toBe(200);
      scrapedFrom.add(Number(answer.headers['x-seckill-worker']));
      expect(requestsCounted(answer.text)).toBe(sent);
      expect(metricValue(answer.text, 'seckill_reserve_requests_total{outcome="OK"}')).toBe(5);
      expect(metricValue(answer.text, 'seckill_reserve_duration_seconds_count')).toBe(sent);
    }
    // Each worker answered scrapes, and each had served only part of the requests.
    expect(scrapedFrom.size).toBe(2);
  });

  it('sells exactly the stock through two workers to 1,500 concurrent buyers, never lets more than the admission cap reach Redis, and both workers then answer 410', async () => {
    const stock = 30;
    // Factor 1 and a chunk larger than the stock: the cap, not the chunk, is
    // what keeps the crowd's surplus out of Redis.
    const factor = 1;
    const chunk = 64;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('fleet-sellout'), stock, limit: 1 });
    const flagsTrusted = ['--sold-out-ttl', '600000'];
    const [{ fleet }, single] = await Promise.all([
      startFleet(['--admission-factor', String(factor), '--ticket-chunk', String(chunk), ...flagsTrusted]),
      // One process beside the fleet hears the same sold-out messages: its gauge is what the fleet's must read.
      start(flagsTrusted),
    ]);

    // The cap is on tickets out at any moment (those that bought, and what the
    // workers' leases hold): watch both, read together, while the crowd buys.
    let buying = true;
    let mostAdmitted = 0;
    const ticketsOut = async () => {
      const [bought, leases] = (await redis.multi().get(skuKeys(sku).admitted).hvals(skuKeys(sku).ticketLeases).exec())!.map(([, value]) => value) as [
        string | null,
        string[],
      ];
      return Number(bought ?? 0) + leases.reduce((n, held) => n + Number(held), 0);
    };
    const watch = (async () => {
      while (buying) mostAdmitted = Math.max(mostAdmitted, await ticketsOut());
    })();
    const agent = new Agent({ keepAlive: true, maxSockets: 200 });
    let statuses: number[];
    try {
      statuses = await Promise.all(Array.from({ length: 1500 }, (_, i) => reserveOn(agent, fleet.url, { sku, userId: `buyer${i}`, requestId: `r${i}` })));
    } finally {
      buying = false;
      agent.destroy();
    }
    await watch;

    const count = (status: number) => statuses.filter((s) => s === status).length;
    expect(count(201)).toBe(stock);
    expect(count(201) + count(410) + count(429)).toBe(statuses.length);
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
    // take-tickets.lua grants at most a share of cap - out, so the tickets out
    // (in the workers' leases or with a buyer at Redis) never pass the cap
    // itself, tighter than factor × stock + workers × chunk.
    const cap = factor * stock;
    expect(mostAdmitted).toBeGreaterThan(0);
    expect(mostAdmitted).toBeLessThanOrEqual(cap);
    expect(await ticketsOut()).toBeLessThanOrEqual(cap);

    // New connections go to the workers in turn: these 20 reach both.
    const late: number[] = [];
    for (let i = 0; i < 20; i++) late.push(await reserveAlone(fleet.url, { sku, userId: `late${i}` }));
    expect(late).toEqual(late.map(() => 410));

    // Both workers flag the SKU: summed, the gauge would count it twice.
    const fleetFlags = metricValue(await scrapeMetrics(fleet.url), 'seckill_sold_out_skus');
    const singleFlags = metricValue(await scrapeMetrics(single.url), 'seckill_sold_out_skus');
    expect(singleFlags).toBeGreaterThanOrEqual(1);
    expect(fleetFlags).toBe(singleFlags);
  });

  it('restarts a worker killed with kill -9, logging its signal, while the port keeps answering', async () => {
    const { fleet, workers } = await startFleet();
    const [victim, survivor] = workers as [number, number];
    process.kill(victim, 'SIGKILL');
    await waitFor(() => fleet.stderr().includes(`worker ${victim} died (signal SIGKILL): restart 1 in`), 10_000, 'the primary to log the crash');

    // From the moment the primary knows, every new connection is answered: by the survivor, then by both.
    const restarted = /worker (\d+) listening/;
    const deadline = Date.now() + 20_000;
    while (!restarted.test(fleet.stderr())) {
      if (Date.now() > deadline) throw new Error('timed out after 20000 ms waiting for the restarted worker to listen');
      expect((await sendHttp(`${fleet.url}/health`)).status).toBe(200);
    }
    const newPid = Number(restarted.exec(fleet.stderr())![1]);
    trackWorkers(newPid);
    expect(workers).not.toContain(newPid);

    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(await workerAnswering(fleet.url));
    expect([...seen].sort()).toEqual([survivor, newPid].sort());
    expect(isAlive(victim)).toBe(false);
  });

  it('keeps selling on the other worker while a restarted worker fails its start (MySQL down), retries it with the crash backoff, and is whole again once MySQL is back', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('fleet-restart-fails'), stock: 100_000, limit: 1 });
    const mysql = await startMysqlProxy();
    onTestFinished(() => mysql.cut());
    // --wait 0: a worker that finds MySQL down fails its start at once, as one past its --wait would.
    const { fleet, workers } = await startFleet(['--wait', '0'], { MYSQL_URL: mysql.url });
    const [victim, survivor] = workers as [number, number];

    // A sale's reservations need only Redis: the survivor sells on while MySQL is down.
    await mysql.cut();
    process.kill(victim, 'SIGKILL');
    // Until the primary knows, it may still hand a new connection to the dead worker.
    await waitFor(() => fleet.stderr().includes(`worker ${victim} died (signal SIGKILL): restart 1 in`), 10_000, 'the primary to log the crash');
    const retried = /failed at start-up \(exit code 2\): restart 2 in/;
    const deadline = Date.now() + 20_000;
    let sold = 0;
    while (!retried.test(fleet.stderr())) {
      if (Date.now() > deadline) throw new Error(`timed out after 20000 ms waiting for a restart that failed to be tried again: ${fleet.stderr()}`);
      const status = await reserveAlone(fleet.url, { sku, userId: `while-down-${sold}` }).catch((error: Error) => `no answer: ${error.message}`);
      expect(status, 'a reservation while the restarted worker fails its start').toBe(201);
      sold += 1;
    }
    expect(sold).toBeGreaterThan(0);
    expect(fleet.process.exitCode).toBeNull();
    expect(isAlive(survivor)).toBe(true);
    // Why the start failed is in the fleet's log: the worker's own line.
    expect(fleet.stderr()).toContain('cannot reach MySQL');
    const delays = [...fleet.stderr().matchAll(/: restart \d+ in (\d+) ms/g)].map((m) => Number(m[1]));
    expect(delays.slice(0, 2)).toEqual([100, 200]);

    await mysql.restore();
    const restarted = /worker (\d+) listening/;
    await waitFor(() => restarted.test(fleet.stderr()), 20_000, 'the restarted worker to listen once MySQL is back');
    const newPid = Number(restarted.exec(fleet.stderr())![1]);
    trackWorkers(newPid);
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(await workerAnswering(fleet.url));
    expect([...seen].sort()).toEqual([survivor, newPid].sort());
  });

  it('keeps its port (given as --port 0) when every worker is killed at once: the restarted workers answer on it', async () => {
    const { fleet, workers } = await startFleet();
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    await waitFor(() => (fleet.stderr().match(/ listening\n/g) ?? []).length === 2, 20_000, 'both workers to be restarted');
    const restarted = [...fleet.stderr().matchAll(/worker (\d+) listening/g)].map((m) => Number(m[1]));
    trackWorkers(...restarted);

    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(await workerAnswering(fleet.url));
    expect([...seen].sort()).toEqual([...restarted].sort());
  });

  it('on SIGTERM to the primary, answers the requests in flight (10 connections, spread over both workers), stops every worker, and exits 0', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('fleet-sigterm'), stock: 100, limit: 1 });
    // A shutdown timeout far beyond the test's: every answer must come from a graceful stop, not a forced one.
    const { fleet, workers } = await startFleet(['--shutdown-timeout', '600000']);

    const held = Array.from({ length: 10 }, (_, i) => holdReserve(fleet.url, { sku, userId: `u${i}`, requestId: `r${i}` }, false));
    await Promise.all(held.map((h) => h.accepted));

    const exited = fleet.stop('SIGTERM');
    // The primary and each worker say they are stopping: the requests are still in flight.
    await waitFor(() => fleet.stderr().split('SIGTERM: stopping').length - 1 === 3, 10_000, 'the primary and both workers to start stopping');

    const answers = await Promise.all(held.map((h) => h.finish()));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    expect(await exited).toBe(0);
    // The primary exited after its workers, not before.
    expect(workers.filter(isAlive)).toEqual([]);
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(10);
  });

  it('exits with the code of a worker that failed at start-up (Redis unreachable: 2) instead of restarting it for ever', async () => {
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const run = await runSeckill(['serve', '--port', '0', '--workers', '2', '--wait', '0', '--redis-url', nobody], {}, 30_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/worker \d+ failed at start-up \(exit code 2\)/);
    expect(run.stderr).not.toContain('restart');
    expect(run.stdout).toBe('');
  });
});
