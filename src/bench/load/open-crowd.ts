/**
 * The open crowd: requests arrive at their times (arrivals.ts), whatever the
 * server does, as a real crowd's do — k6's arrival-rate executors. A request
 * goes out on a keep-alive connection of a bounded pool (`connections`), or
 * waits for one; one that is due while `maxInFlight` are already in flight
 * is dropped and counted, never quietly left out. Each answer is timed from
 * when its request should have gone out (wrk2's cure for coordinated
 * omission), so a server that stalls shows the wait of every request that
 * arrived during the stall, including those that waited for a connection;
 * and the generator's own lateness is measured, and said.
 */
import { Agent, request } from 'node:http';
import { createAnswerLog, latencyHistogram } from './answer-log.js';
import { arrivalText, intendedTimes, rateProfile, type Arrival } from './arrivals.js';
import type { LoadPlan, LoadResult } from './load-plan.js';
import type { LoadProgress } from './run-load.js';
import { createTraffic, type BuyAttempt } from './traffic.js';

/** The generator is behind its schedule when 1 % of its requests went out later than this: its figures are then its own as much as the server's. */
const BEHIND_SCHEDULE_WARN_MS = 10;
const DEFAULT_TIMEOUT_SEC = 10;
/** Requests in flight (on a connection, or waiting for one) per connection of the pool, when the plan gives no maxInFlight. */
const IN_FLIGHT_PER_CONNECTION = 10;

export const runOpenCrowd = (plan: LoadPlan, arrival: Arrival, onProgress: (p: LoadProgress) => void): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const traffic = createTraffic(plan.traffic, plan.seed);
    const log = createAnswerLog(plan);
    const { hostname, port } = new URL(plan.url);
    const agent = new Agent({ keepAlive: true, maxSockets: plan.connections, maxFreeSockets: plan.connections });
    const timeoutMs = (plan.timeoutSec ?? DEFAULT_TIMEOUT_SEC) * 1000;
    const maxInFlight = plan.maxInFlight ?? plan.connections * IN_FLIGHT_PER_CONNECTION;
    const schedule = intendedTimes(rateProfile(arrival, plan.durationSec * 1000), plan.amount);
    const lateness = latencyHistogram();
    const inFlight = new Map<BuyAttempt, () => void>();
    // Sent, and never learned what became of them: cut by an error or a timeout, or answered 5xx (the reservation may have happened).
    const unread: BuyAttempt[] = [];
    let intended = 0;
    let sent = 0;
    let dropped = 0;
    let errors = 0;
    let timeouts = 0;
    let scheduleDone = false;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let nextAt = schedule.next();

    const send = (attempt: BuyAttempt, intendedAt: number) => {
      const handedAt = performance.now();
      lateness.recordValue(Math.max(1, Math.round((handedAt - intendedAt) * 1000)));
      const beforeOpening = plan.opensAt !== undefined && Date.now() < plan.opensAt;
      // Until a connection of the pool is free, the request waits in the agent's queue: sent late, and timed from its arrival all the same.
      let sentAt = handedAt;
      let timedOut = false;
      let answered = false;
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(attempt.body) };
      if (attempt.authorization !== null) headers.authorization = attempt.authorization;
      const req = request({ host: hostname, port, path: '/reserve', method: 'POST', agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          answered = true;
          settle(attempt, status >= 500);
          log.record({ attempt, status, body, headers: res.headers, intendedAt, sentAt, answeredAt: performance.now(), beforeOpening }, traffic.fresh);
        });
      });
      req.once('socket', () => (sentAt = performance.now()));
      // Counted from the hand-over, not from the connection: a request that never gets one times out too.
      const giveUp = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, timeoutMs);
      // A refused, reset or timed-out request ends in 'close' without its answer: counted there, once, whatever the error was.
      req.on('error', () => {});
      req.once('close', () => {
        clearTimeout(giveUp);
        if (answered) return;
        if (timedOut) timeouts += 1;
        else errors += 1;
        settle(attempt, true);
      });
      inFlight.set(attempt, () => req.destroy());
      req.end(attempt.body);
      sent += 1;
    };

    const settle = (attempt: BuyAttempt, outcomeUnknown: boolean) => {
      if (!inFlight.delete(attempt)) return;
      if (outcomeUnknown) unread.push(attempt);
      if (scheduleDone && inFlight.size === 0) finish();
    };

    const started = log.started;
    /** Sends every request that is due, drops those no connection is free for, and sleeps until the next is due. */
    const tick = () => {
      const now = performance.now() - started;
      while (!nextAt.done && nextAt.value <= now) {
        intended += 1;
        if (inFlight.size >= maxInFlight) dropped += 1;
        else send(traffic.next(), started + nextAt.value);
        nextAt = schedule.next();
      }
      if (nextAt.done || stopped) {
        scheduleDone = true;
        if (inFlight.size === 0) finish();
        return;
      }
      timer = setTimeout(tick, Math.max(0, nextAt.value - (performance.now() - started)));
    };

    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(progress);
      clearTimeout(timer);
      agent.destroy();
      const behind = { p99: lateness.totalCount === 0 ? 0 : lateness.getValueAtPercentile(99) / 1000, max: lateness.maxValue / 1000 };
      log
        .finish({
          errors,
          timeouts,
          unread,
          crowd: {
            model: arrival.shape,
            arrival: arrivalText(arrival),
            intended,
            sent,
            dropped,
            behindScheduleMs: behind,
            warning:
              behind.p99 > BEHIND_SCHEDULE_WARN_MS
                ? `the load generator fell behind its schedule: 1 % of its requests went out more than ${behind.p99.toFixed(0)} ms late (max ${behind.max.toFixed(0)} ms), so it offered less than asked at those moments; latencies from the intended send include that wait`
                : null,
          },
        })
        .then(resolve, reject);
    };

    const progress = setInterval(() => onProgress(log.progress()), 1_000);
    process.once('SIGTERM', () => {
      // Stop sending; what is in flight is cut and counted unread.
      stopped = true;
      scheduleDone = true;
      clearTimeout(timer);
      for (const cut of [...inFlight.values()]) cut();
      if (inFlight.size === 0) finish();
    });
    tick();
  });
