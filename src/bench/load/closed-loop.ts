/**
 * The closed crowd: autocannon keeps `connections` connections, and each
 * sends its next request only once the last is answered. A stalled server
 * slows the crowd down with it, so its latencies never show the stall's
 * wait (open-crowd.ts is the crowd that does not wait); kept to compare.
 */
import autocannon from 'autocannon';
import { createAnswerLog } from './answer-log.js';
import { arrivalText } from './arrivals.js';
import type { LoadPlan, LoadResult } from './load-plan.js';
import type { LoadProgress } from './run-load.js';
import { createTraffic, type BuyAttempt } from './traffic.js';

interface Context {
  attempt?: BuyAttempt;
  sentAt?: number;
  beforeOpening?: boolean;
}

export const runClosedLoop = (plan: LoadPlan, onProgress: (p: LoadProgress) => void): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const traffic = createTraffic(plan.traffic, plan.seed);
    const log = createAnswerLog(plan);
    // Requests whose outcome the buyer never learned: sent but not answered
    // when the load stopped (autocannon cuts their connections), cut by a
    // connection error or a timeout (a server killed mid-request: autocannon
    // reconnects and builds the next request in a fresh context, never calling
    // onResponse for this one), or answered 5xx ("unavailable, retry with the
    // same requestId": the reservation may have happened). An order may exist
    // for any of them.
    const inFlight = new Set<Context>();
    let sent = 0;

    const instance = autocannon(
      {
        url: plan.url,
        connections: plan.connections,
        amount: plan.amount,
        ...(plan.rate !== undefined && { overallRate: plan.rate }),
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/reserve',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req, context: Context) => {
              const attempt = traffic.next();
              context.attempt = attempt;
              context.sentAt = performance.now();
              context.beforeOpening = plan.opensAt !== undefined && Date.now() < plan.opensAt;
              inFlight.add(context);
              sent += 1;
              return attempt.authorization === null
                ? { ...req, body: attempt.body }
                : { ...req, body: attempt.body, headers: { ...req.headers, authorization: attempt.authorization } };
            },
            onResponse: (status, body, context: Context, headers) => {
              if (status < 500) inFlight.delete(context);
              // The closed loop sends each request when its connection is free: that is its intended time.
              log.record(
                {
                  attempt: context.attempt!,
                  status,
                  body,
                  headers: headers ?? {},
                  intendedAt: context.sentAt!,
                  sentAt: context.sentAt!,
                  answeredAt: performance.now(),
                  beforeOpening: context.beforeOpening!,
                },
                traffic.fresh,
              );
            },
          },
        ],
      },
      // autocannon ignores what its callback returns: an error after it (the lost replies' retries) must reject the run, not crash the process.
      (error: Error | null, result) => {
        if (error) return reject(error);
        log
          .finish({
            // autocannon counts a timeout in its errors too: here errors are the other connection errors, as the open crowd counts them.
            errors: result.errors - result.timeouts,
            timeouts: result.timeouts,
            unread: [...inFlight].map(({ attempt }) => attempt!),
            crowd: { model: 'closed', arrival: arrivalText(null), intended: sent, sent, dropped: 0, behindScheduleMs: null, warning: null },
          })
          .then(resolve, reject);
      },
    );
    const progress = setInterval(() => onProgress(log.progress()), 1_000);
    instance.once('done', () => clearInterval(progress));
    // autocannon ignores `duration` when `amount` is set: stop it ourselves.
    const stopAt = setTimeout(() => instance.stop(), plan.durationSec * 1000);
    instance.once('done', () => clearTimeout(stopAt));
    process.once('SIGTERM', () => instance.stop());
  });
