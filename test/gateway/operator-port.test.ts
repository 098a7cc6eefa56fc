import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { expectHealthDown, metricValue, runSeckill, scrapeMetrics, sendHttp, serversOfFile, startMysqlProxy, waitFor } from '../helpers.js';

/**
 * `seckill serve --metrics-port`: /metrics and /health on an operator port
 * apart from the buyers', and a /health that asks Redis and MySQL at most
 * once a second however often it is called.
 */

const { start, trackWorkers } = serversOfFile();

const checksCounted = async (operatorUrl: string): Promise<number> => metricValue(await scrapeMetrics(operatorUrl), 'seckill_dependency_checks_total');

describe('seckill serve --metrics-port', () => {
  it("serves /metrics and /health on the operator port, and the buyers' port answers /metrics 404 (it still answers /health)", async () => {
    const port = await freePort();
    const server = await start(['--metrics-port', String(port)]);
    const operator = `http://127.0.0.1:${port}`;
    expect(server.ready.metrics).toBe(operator);

    const metrics = await scrapeMetrics(operator);
    expect(metrics).toContain('# TYPE seckill_reserve_requests_total counter');
    expect(metricValue(metrics, 'seckill_dependency_up{dependency="redis"}')).toBe(1);
    expect(metricValue(metrics, 'seckill_dependency_up{dependency="mysql"}')).toBe(1);
    const health = await sendHttp(`${operator}/health`);
    expect({ status: health.status, body: health.body }).toEqual({ status: 200, body: { ok: true, redis: 'up', mysql: 'up' } });
    expect((await sendHttp(`${operator}/reserve`, { method: 'POST', body: '{}' })).status).toBe(404);

    // A port already taken is a set-up error, said as such.
    const taken = await runSeckill(['serve', '--port', '0', '--metrics-port', String(port)], {}, 60_000);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`--metrics-port ${port} on 127.0.0.1: listen EADDRINUSE`);

    const buyersMetrics = await sendHttp(`${server.url}/metrics`);
    expect(buyersMetrics.status).toBe(404);
    expect(buyersMetrics.body).toMatchObject({ error: 'NOT_FOUND' });
    expect((await sendHttp(`${server.url}/health`)).status).toBe(200);
    // The buyers' answers by status class, for the 5xx alert: the 404 and the 200 just sent.
    const after = await scrapeMetrics(operator);
    expect(metricValue(after, 'seckill_http_responses_total{class="4xx"}')).toBe(1);
    expect(metricValue(after, 'seckill_http_responses_total{class="2xx"}')).toBe(1);
  });

  it("keeps /metrics on the buyers' port when no --metrics-port is given", async () => {
    const server = await start();
    expect(server.ready.metrics).toBeUndefined();
    expect(await scrapeMetrics(server.url)).toContain('seckill_dependency_up{dependency="mysql"} 1');
  });

  it("with --workers 2: the primary serves the operator port, the fleet's metrics summed and every worker's health", async () => {
    const port = await freePort();
    const fleet = await start(['--workers', '2', '--metrics-port', String(port)]);
    const workers = fleet.ready.workers as number[];
    trackWorkers(...workers);
    const operator = `http://127.0.0.1:${port}`;

    expect((await sendHttp(`${fleet.url}/metrics`)).status).toBe(404);
    for (let i = 0; i < 4; i++) expect((await sendHttp(`${fleet.url}/health`)).status).toBe(200);
    const health = await sendHttp(`${operator}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, redis: 'up', mysql: 'up' });
    expect((health.body!.workers as { pid: number }[]).map((w) => w.pid).sort()).toEqual([...workers].sort());

    const metrics = await scrapeMetrics(operator);
    // Each worker checked at least once (its first /health, or this scrape): the counter is the fleet's sum, the gauge its minimum.
    expect(metricValue(metrics, 'seckill_dependency_checks_total')).toBeGreaterThanOrEqual(2);
    expect(metricValue(metrics, 'seckill_dependency_up{dependency="redis"}')).toBe(1);
  });

  it('answers 50 /health calls at once from at most a few dependency checks, not one each (the operator port on --metrics-host)', async () => {
    const port = await freePort();
    const server = await start(['--metrics-port', String(port), '--metrics-host', '127.0.0.2']);
    const operator = `http://127.0.0.2:${port}`;
    expect(server.ready.metrics).toBe(operator);
    const before = await checksCounted(operator);
    const answers = await Promise.all(Array.from({ length: 50 }, () => sendHttp(`${server.url}/health`)));
    expect(answers.map((a) => a.status)).toEqual(Array<number>(50).fill(200));
    // The scrape before checked; the calls may check once more when that report is a second old, and the scrape after once more.
    expect((await checksCounted(operator)) - before).toBeLessThanOrEqual(3);
  });

  it('reports MySQL down on /health (503, naming it) and in seckill_dependency_up, on both ports', async () => {
    const proxy = await startMysqlProxy();
    const port = await freePort();
    const server = await start(['--metrics-port', String(port)], { MYSQL_URL: proxy.url });
    const operator = `http://127.0.0.1:${port}`;
    expect((await sendHttp(`${server.url}/health`)).status).toBe(200);

    await proxy.cut();
    await waitFor(async () => (await sendHttp(`${server.url}/health`)).status === 503, 15_000, '/health to say 503');
    const health = await sendHttp(`${operator}/health`);
    expectHealthDown(health, 'mysql');
    const metrics = await scrapeMetrics(operator);
    expect(metricValue(metrics, 'seckill_dependency_up{dependency="mysql"}')).toBe(0);
    expect(metricValue(metrics, 'seckill_dependency_up{dependency="redis"}')).toBe(1);
    expect(metricValue(metrics, 'seckill_http_responses_total{class="5xx"}')).toBeGreaterThanOrEqual(1);
  });
});
