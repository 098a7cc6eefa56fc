import { describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import type { CloseReport } from '../../src/reconcile/close.js';
import { postJson, preloadSku, type RunningServer, runSeckill, sendHttp, serversOfFile, uniqueSku, waitFor } from '../helpers.js';

/**
 * A sale run by a fleet that deploys, crashes and disagrees about the time,
 * judged by its outcome: every unit sold, every buyer told the truth. Real
 * `seckill serve` processes on the real Redis; SIGTERM, SIGKILL and clocks
 * that are off are the point.
 */

const { redis, start, trackWorkers } = serversOfFile();

type Answer = Awaited<ReturnType<typeof postJson>>;

/** One new buyer after another, each pressing "buy" again on 429 as a real one does, until the stock is gone or the deadline passes; the answers in order. */
const buyUntilSoldOut = async (url: () => string, sku: string, label: string, deadlineMs: number): Promise<Answer[]> => {
  const answers: Answer[] = [];
  const deadline = Date.now() + deadlineMs;
  for (let buyer = 0; Date.now() < deadline;) {
    const answer = await postJson(`${url()}/reserve`, { sku, userId: `${label}-${buyer}`, requestId: 'r1' });
    answers.push(answer);
    if (answer.status === 201) buyer += 1;
    if ((await redis.get(skuKeys(sku).stock)) === '0') return answers;
    if (answer.status === 429) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return answers;
};

const statuses = (answers: Answer[]) => answers.reduce<Record<string, number>>((n, a) => ({ ...n, [a.status]: (n[a.status] ?? 0) + 1 }), {});

/** `n` new buyers who each buy one unit, pressing "buy" again on 429 (a dead process's tickets come back after its lease); the statuses of their final answers. */
const buyers = async (url: string, sku: string, label: string, n = 2, deadlineMs = 15_000): Promise<number[]> =>
  Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const { status } = await postJson(`${url}/reserve`, { sku, userId: `${label}-${i}`, requestId: 'r1' });
        if (status !== 429 || Date.now() > deadline) return status;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }),
  );

/**
 * K = 1: the cap is the stock itself, so every ticket a process holds is one
 * another process cannot have — a ticket stranded is a unit unsold.
 */
const TIGHT_CAP = ['--admission-factor', '1'];

describe('a small drop through deploys and crashes', () => {
  it.each([
    ['the defaults (K = 10, chunks of 64)', []],
    ['K = 1', TIGHT_CAP],
  ])(
    'sells all 10 units after two rolling deploys (SIGTERM, start again), with %s: a stopped process gives back the admission tickets it did not use',
    async (_label, flags: string[]) => {
      const { sku } = await preloadSku(redis, { sku: uniqueSku('deploys'), stock: 10, limit: 1 });
      let server: RunningServer = await start(flags);
      for (const round of ['first', 'second']) {
        expect(await buyers(server.url, sku, round)).toEqual([201, 201]);
        expect(await server.stop('SIGTERM')).toBe(0);
        server = await start(flags);
      }
      const answers = await buyUntilSoldOut(() => server.url, sku, 'after', 20_000);
      expect(await redis.get(skuKeys(sku).stock), `answers after the deploys: ${JSON.stringify(statuses(answers))}`).toBe('0');
      // Nobody was turned away while units were left: the six after the deploys bought at the first try.
      expect(statuses(answers)).toEqual({ 201: 6 });
    },
  );

  it('sells all 10 units after two crashes (SIGKILL, start again): the tickets a dead process held come back by themselves', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('crashes'), stock: 10, limit: 1 });
    const flags = [...TIGHT_CAP, '--ticket-lease', '2000'];
    let server: RunningServer = await start(flags);
    for (const round of ['first', 'second']) {
      expect(await buyers(server.url, sku, round)).toEqual([201, 201]);
      await server.stop('SIGKILL');
      server = await start(flags);
    }
    const answers = await buyUntilSoldOut(() => server.url, sku, 'after', 30_000);
    expect(await redis.get(skuKeys(sku).stock), `answers after the crashes: ${JSON.stringify(statuses(answers))}`).toBe('0');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(10);
  });

  it('sells all 10 units through serve --workers 2 after each worker crashed and was restarted', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('worker-crashes'), stock: 10, limit: 1 });
    const fleet = await start(['--workers', '2', ...TIGHT_CAP, '--ticket-lease', '2000']);
    const workers = fleet.ready.workers as number[];
    trackWorkers(...workers);
    // Both workers take tickets: new connections go to each in turn.
    expect(await buyers(fleet.url, sku, 'before', 4)).toEqual([201, 201, 201, 201]);
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    await waitFor(
      async () =>
        (await sendHttp(`${fleet.url}/health`).then(
          (r) => r.status,
          () => 0,
        )) === 200,
      20_000,
      'the restarted workers',
    );
    const answers = await buyUntilSoldOut(() => fleet.url, sku, 'after', 30_000);
    expect(await redis.get(skuKeys(sku).stock), `answers after the crashes: ${JSON.stringify(statuses(answers))}`).toBe('0');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(10);
  });
});

describe('gateways whose clocks disagree with Redis', () => {
  it('a gateway 3 s fast sells nothing before the opening: the window is judged on Redis time', async () => {
    const fast = await start([], { SECKILL_CLOCK_OFFSET_MS: '3000' });
    const startsAt = Date.now() + 2_500;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('fast-clock'), stock: 5, limit: 1, startsAt });
    const early: Answer[] = [];
    for (let i = 0; Date.now() < startsAt - 300; i++) early.push(await postJson(`${fast.url}/reserve`, { sku, userId: `early-${i}`, requestId: 'r1' }));
    expect(early.length).toBeGreaterThan(0);
    expect(statuses(early)).toEqual({ 403: early.length });
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(0);
    // And it sells once the sale opens.
    await waitFor(() => Date.now() >= startsAt, 5_000, 'the opening');
    const answers = await buyUntilSoldOut(() => fast.url, sku, 'on-time', 15_000);
    expect(statuses(answers)[201]).toBe(5);
  });

  it('gateways 3 s fast or slow issue purchase tokens on Redis time: none before the opening, and from the opening on', async () => {
    const secret = { SECKILL_SECRET: 'a-purchase-token-secret-of-32-chars' };
    const [fast, slow] = await Promise.all([
      start(['--require-token'], { ...secret, SECKILL_CLOCK_OFFSET_MS: '3000' }),
      start(['--require-token'], { ...secret, SECKILL_CLOCK_OFFSET_MS: '-3000' }),
    ]);
    const startsAt = Date.now() + 2_000;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('token-clock'), stock: 5, limit: 1, startsAt });
    const token = async (url: string) => (await sendHttp(`${url}/sales/${sku}/token?userId=u1`)).status;
    expect(await token(fast.url)).toBe(403);
    await waitFor(() => Date.now() >= startsAt + 1_100, 5_000, 'the opening (and the window cache refreshed)');
    expect(await token(slow.url)).toBe(200);
  });

  it('a gateway 3 s slow sells nothing after the end, nor after close --end-now, and writes nothing into a closed sale', async () => {
    const slow = await start([], { SECKILL_CLOCK_OFFSET_MS: '-3000' });
    const endsAt = Date.now() + 1_000;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('slow-clock'), stock: 5, limit: 1, endsAt });
    expect((await postJson(`${slow.url}/reserve`, { sku, userId: 'in-time', requestId: 'r1' })).status).toBe(201);
    await waitFor(() => Date.now() > endsAt + 100, 5_000, 'the end');
    expect((await postJson(`${slow.url}/reserve`, { sku, userId: 'late', requestId: 'r1' })).body).toMatchObject({ error: 'ENDED' });

    const { sku: open } = await preloadSku(redis, { sku: uniqueSku('slow-close'), stock: 5, limit: 1 });
    const closed = await runSeckill(['close', '--sku', open, '--end-now', '--wait', '0', '--json']);
    if ((JSON.parse(closed.stdout || '{}') as Partial<CloseReport>).closed !== true)
      return expect.fail(`close did not close the sale: ${closed.stdout} ${closed.stderr}`);
    const after = await postJson(`${slow.url}/reserve`, { sku: open, userId: 'after-close', requestId: 'r1' });
    expect(after.status).toBe(410);
    // Nothing was written into the closed sale's removed keys.
    expect(await redis.exists(skuKeys(open).holders, skuKeys(open).reservations, skuKeys(open).outbox, skuKeys(open).requests)).toBe(0);
  });
});
