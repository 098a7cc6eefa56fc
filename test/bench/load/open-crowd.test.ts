import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadPlan } from '../../../src/bench/load/load-plan.js';
import { runLoad } from '../../../src/bench/load/run-load.js';
import { honestMix } from './honest-mix.js';

/** Honest first attempts only: the crowd's shape is what these tests are about. */
const mix = honestMix('open-crowd', { buyers: 100_000 });

const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> => {
  const server = createServer({ keepAlive: true }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};
const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

const STALL_MS = 300;
const STALL_AFTER_MS = 700;

/**
 * A server that answers at once, except once per run: STALL_AFTER_MS after
 * the run's first request it stops answering for STALL_MS (a GC pause, a
 * paused process), and answers everything that came in meanwhile when it
 * wakes.
 */
const stallingServer = () => {
  let firstAt: number | null = null;
  let stallUntil: number | null = null;
  let heldInStall = 0;
  const answer = (res: ServerResponse) => res.writeHead(409, { 'content-type': 'application/json' }).end('{"error":"SOLD_OUT"}');
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.once('end', () => {
      const now = performance.now();
      firstAt ??= now;
      if (stallUntil === null && now - firstAt >= STALL_AFTER_MS) stallUntil = now + STALL_MS;
      if (stallUntil !== null && now < stallUntil) {
        heldInStall += 1;
        setTimeout(() => answer(res), stallUntil - now);
      } else answer(res);
    });
  };
  return {
    handler,
    /** the next run stalls once again; how many requests the last one held */
    reset: () => {
      const held = heldInStall;
      [firstAt, stallUntil, heldInStall] = [null, null, 0];
      return held;
    },
  };
};

describe('open crowd against a server that stalls 300 ms once', () => {
  const stalling = stallingServer();
  let server: Server;
  let url: string;
  beforeAll(async () => ({ server, url } = await listen(stalling.handler)));
  afterAll(() => close(server));

  it('reports the stall in its p99 from the intended send, where the closed loop on the same connections hides it', async () => {
    // 500 arrivals a second for 2 s: the 300 ms stall holds 150 of the 1,000 (15 %), 25 of them (2.5 %) for 250 ms or more.
    const base: LoadPlan = { url, connections: 5, amount: 1_000, durationSec: 2, seed: 1, traffic: mix };
    const open = await runLoad({ ...base, arrival: { shape: 'constant', rate: 500 }, maxInFlight: 1_000, timeoutSec: 5 });
    const heldOpen = stalling.reset();
    // The closed loop: 5 connections, each sending again once answered, as fast as the server answers, for 2 s.
    const closed = await runLoad({ ...base, amount: 1_000_000 });
    const heldClosed = stalling.reset();

    expect(heldOpen, 'the stall happened during the open run').toBeGreaterThan(0);
    expect(heldClosed, 'the stall happened during the closed run').toBeGreaterThan(0);
    expect([open.crowd.model, open.crowd.intended, open.crowd.sent, open.crowd.dropped]).toEqual(['constant', 1_000, 1_000, 0]);
    expect(open.requests).toBe(1_000);
    // Every request that arrived during the stall waited for it, on a connection or for one: the open crowd's tail shows it.
    expect(open.crowd.latencyFromIntendedMs.p99).toBeGreaterThanOrEqual(STALL_MS - 50);
    expect(open.latency.p99Ms).toBe(open.crowd.latencyFromIntendedMs.p99);
    // The closed loop had at most 5 requests in the stall among thousands: its p99 never sees it.
    expect(closed.crowd.model).toBe('closed');
    expect(closed.requests).toBeGreaterThan(20 * heldClosed);
    expect(closed.crowd.latencyFromIntendedMs.p99).toBeLessThan(STALL_MS - 100);
    // Timed from when it went out on a connection, the open crowd would hide it the same way.
    expect(open.crowd.latencyFromSendMs.p99).toBeLessThan(STALL_MS - 100);
  }, 60_000);
});

describe('open crowd against a server that never answers', () => {
  let server: Server;
  let url: string;
  // Takes every request and answers none: the pool fills, then every request in flight waits.
  beforeAll(async () => ({ server, url } = await listen((req) => req.resume())));
  afterAll(() => close(server));

  it('counts every request it could not send as dropped, beside the answers, rather than sending fewer quietly', async () => {
    const result = await runLoad({
      url,
      connections: 4,
      amount: 10_000,
      durationSec: 1,
      seed: 1,
      traffic: mix,
      arrival: { shape: 'constant', rate: 200 },
      maxInFlight: 8,
      timeoutSec: 1,
    });
    expect(result.crowd.intended).toBe(200);
    // 4 on the pool's connections, 4 waiting for one; every later arrival found 8 in flight.
    expect(result.crowd.sent).toBe(8);
    expect(result.crowd.dropped).toBe(192);
    expect(result.crowd.sent + result.crowd.dropped).toBe(result.crowd.intended);
    expect(result.requests).toBe(0);
    // The 8 sent were given up after their timeout, and their outcome is unknown.
    expect(result.timeouts).toBe(8);
    expect(result.unread).toHaveLength(8);
  }, 30_000);
});
