/**
 * The load generator, in a process of its own so that it never shares an
 * event loop with the server it measures. Started by `runLoad` (load.ts): it
 * receives one LoadPlan over IPC, drives autocannon, and sends back one
 * LoadResult.
 */
import autocannon from 'autocannon';
import type { Answer, LoadPlan, LoadResult, TimelinePoint } from './load-plan.js';
import { createTraffic, type BuyAttempt } from './traffic.js';

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Outcome of an answer: the error code of a refusal, OK for a 201. */
const outcomeOf = (status: number, body: string): string => {
  if (status === 201) return 'OK';
  const match = /"error":"([A-Z_]+)"/.exec(body);
  return match ? match[1]! : `HTTP_${status}`;
};

const orderIdOf = (body: string): string | null => /"orderId":"([^"]+)"/.exec(body)?.[1] ?? null;

interface Context {
  attempt?: BuyAttempt;
  sentAt?: number;
}

const run = (plan: LoadPlan): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const next = createTraffic(plan.traffic, plan.seed);
    const outcomes: Record<string, number> = {};
    const answers: Answer[] = [];
    const firstSoldOutMs: Record<string, number> = {};
    let lastOkAt: number | null = null;
    // Requests whose outcome the buyer never learned: sent but not answered
    // when the load stopped (autocannon cuts their connections), cut by a
    // connection error or a timeout (a server killed mid-request: autocannon
    // reconnects and builds the next request in a fresh context, never calling
    // onResponse for this one), or answered 5xx ("unavailable, retry with the
    // same requestId": the reservation may have happened). An order may exist
    // for any of them.
    const inFlight = new Set<Context>();
    const perSecond: { outcomes: Record<string, number>; latencies: number[] }[] = [];
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    const started = performance.now();

    const instance = autocannon(
      {
        url: plan.url,
        connections: plan.connections,
        amount: plan.amount,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/reserve',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req, context: Context) => {
              const attempt = next();
              context.attempt = attempt;
              context.sentAt = performance.now();
              inFlight.add(context);
              return { ...req, body: attempt.body };
            },
            onResponse: (status, body, context: Context) => {
              const now = performance.now();
              const attempt = context.attempt!;
              if (status < 500) inFlight.delete(context);
              const latency = now - context.sentAt!;
              const outcome = outcomeOf(status, body);
              outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
              if (count === latencies.length) {
                const grown = new Float64Array(latencies.length * 2);
                grown.set(latencies);
                latencies = grown;
              }
              latencies[count++] = latency;
              const second = Math.floor((now - started) / 1000);
              const bucket = (perSecond[second] ??= { outcomes: {}, latencies: [] });
              bucket.outcomes[outcome] = (bucket.outcomes[outcome] ?? 0) + 1;
              bucket.latencies.push(latency);
              if (status === 201) lastOkAt = Date.now();
              if (outcome === 'SOLD_OUT' && firstSoldOutMs[attempt.sku] === undefined) firstSoldOutMs[attempt.sku] = now - started;
              if (status === 201 || status === 409) {
                const orderId = orderIdOf(body);
                if (orderId) answers.push({ sku: attempt.sku, userId: attempt.userId, requestId: attempt.requestId, status, orderId });
              }
            },
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const durationMs = performance.now() - started;
        const sorted = latencies.slice(0, count).sort();
        const timeline: TimelinePoint[] = [];
        for (let s = 0; s < perSecond.length; s++) {
          const bucket = perSecond[s] ?? { outcomes: {}, latencies: [] };
          const l = Float64Array.from(bucket.latencies).sort();
          timeline.push({ second: s, outcomes: bucket.outcomes, p50Ms: percentile(l, 50), p99Ms: percentile(l, 99) });
        }
        resolve({
          requests: count,
          durationMs,
          rps: (count / durationMs) * 1000,
          latency: { p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99), maxMs: sorted[count - 1] ?? 0 },
          outcomes,
          errors: result.errors,
          timeouts: result.timeouts,
          answers,
          unread: [...inFlight].map(({ attempt }) => ({ sku: attempt!.sku, userId: attempt!.userId, requestId: attempt!.requestId })),
          lastOkAt,
          firstSoldOutMs,
          timeline,
        });
      },
    );
    const progress = setInterval(() => process.send!({ progress: { requests: count, seconds: (performance.now() - started) / 1000, outcomes } }), 1_000);
    instance.once('done', () => clearInterval(progress));
    // autocannon ignores `duration` when `amount` is set: stop it ourselves.
    const stopAt = setTimeout(() => instance.stop(), plan.durationSec * 1000);
    instance.once('done', () => clearTimeout(stopAt));
    process.once('SIGTERM', () => instance.stop());
  });

process.once('message', (plan: LoadPlan) => {
  run(plan).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (error: Error) => process.send!({ error: error.message }, () => process.exit(1)),
  );
});
