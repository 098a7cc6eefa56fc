/**
 * The load generator, in a process of its own so that it never shares an
 * event loop with the server it measures. Started by `runLoad` (load.ts): it
 * receives one LoadPlan over IPC, drives autocannon, and sends back one
 * LoadResult.
 */
import autocannon from 'autocannon';
import { orderIdOf, outcomeOf } from './answers.js';
import { LATENCY_PERCENTILES, TIME_SLOT_MS, type Answer, type LoadPlan, type LoadResult, type TimelinePoint } from './load-plan.js';
import { createLostReplies } from './lost-replies.js';
import { createTraffic, type BuyAttempt } from './traffic.js';

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

interface Context {
  attempt?: BuyAttempt;
  sentAt?: number;
  beforeOpening?: boolean;
}

const run = (plan: LoadPlan): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const traffic = createTraffic(plan.traffic, plan.seed);
    const lost = createLostReplies(plan.url);
    // One lost reply after every this many answers: the share of the traffic the mix asks for.
    const lostEvery = plan.traffic.lostReplies > 0 ? Math.max(1, Math.round(1 / plan.traffic.lostReplies)) : 0;
    let sinceLost = 0;
    const outcomes: Record<string, number> = {};
    const admissionClosed: Record<string, number> = {};
    const beforeOpening: Record<string, number> = {};
    const answers: Answer[] = [];
    const firstSoldOutMs: Record<string, number> = {};
    let lastOkAt: number | null = null;
    let serverErrors = 0;
    // Requests whose outcome the buyer never learned: sent but not answered
    // when the load stopped (autocannon cuts their connections), cut by a
    // connection error or a timeout (a server killed mid-request: autocannon
    // reconnects and builds the next request in a fresh context, never calling
    // onResponse for this one), or answered 5xx ("unavailable, retry with the
    // same requestId": the reservation may have happened). An order may exist
    // for any of them.
    const inFlight = new Set<Context>();
    const slots: { outcomes: Record<string, number>; latencies: number[] }[] = [];
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    const started = performance.now();
    const startedAt = Date.now();
    const cpuAtStart = process.cpuUsage();

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
              return attempt.authorization === null
                ? { ...req, body: attempt.body }
                : { ...req, body: attempt.body, headers: { ...req.headers, authorization: attempt.authorization } };
            },
            onResponse: (status, body, context: Context) => {
              const now = performance.now();
              const attempt = context.attempt!;
              if (status < 500) inFlight.delete(context);
              else serverErrors += 1;
              const latency = now - context.sentAt!;
              const outcome = outcomeOf(status, body);
              outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
              if (count === latencies.length) {
                const grown = new Float64Array(latencies.length * 2);
                grown.set(latencies);
                latencies = grown;
              }
              latencies[count++] = latency;
              const slot = (slots[Math.floor((now - started) / TIME_SLOT_MS)] ??= { outcomes: {}, latencies: [] });
              slot.outcomes[outcome] = (slot.outcomes[outcome] ?? 0) + 1;
              slot.latencies.push(latency);
              if (status === 201) lastOkAt = Date.now();
              if (outcome === 'ADMISSION_CLOSED') admissionClosed[attempt.sku] = (admissionClosed[attempt.sku] ?? 0) + 1;
              if (context.beforeOpening) beforeOpening[outcome] = (beforeOpening[outcome] ?? 0) + 1;
              if (outcome === 'SOLD_OUT' && firstSoldOutMs[attempt.sku] === undefined) {
                firstSoldOutMs[attempt.sku] = now - started;
                lost.soldOut(attempt.sku);
              }
              if (lostEvery > 0 && ++sinceLost >= lostEvery) {
                sinceLost = 0;
                const buyer = traffic.fresh();
                lost.send(buyer, firstSoldOutMs[buyer.sku] !== undefined);
              }
              if (status === 201 || status === 409) {
                const orderId = orderIdOf(body);
                if (orderId) answers.push({ sku: attempt.sku, userId: attempt.userId, requestId: attempt.requestId, status, orderId });
              }
            },
          },
        ],
      },
      // autocannon ignores what its callback returns: an error after it (the lost replies' retries) must reject the run, not crash the process.
      (error: Error | null, result) => void finish(error, result).catch(reject),
    );
    const finish = async (error: Error | null, result: autocannon.Result): Promise<void> => {
      if (error) return reject(error);
      const durationMs = performance.now() - started;
      const lostReplies = await lost.finish();
      const sorted = latencies.slice(0, count).sort();
      const timeline: TimelinePoint[] = [];
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i] ?? { outcomes: {}, latencies: [] };
        const l = Float64Array.from(slot.latencies).sort();
        const answered = l.length > 0;
        timeline.push({
          atMs: i * TIME_SLOT_MS,
          outcomes: slot.outcomes,
          p50Ms: answered ? percentile(l, 50) : null,
          p99Ms: answered ? percentile(l, 99) : null,
        });
      }
      const cpu = process.cpuUsage(cpuAtStart);
      resolve({
        startedAt,
        cpuMicros: cpu.user + cpu.system,
        requests: count,
        durationMs,
        rps: (count / durationMs) * 1000,
        latency: { p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99), maxMs: sorted[count - 1] ?? 0 },
        latencyPercentiles: LATENCY_PERCENTILES.map((p) => ({ percentile: p, ms: percentile(sorted, p) })),
        outcomes,
        errors: result.errors,
        timeouts: result.timeouts,
        serverErrors,
        // A retry told its order id is an answer like any other.
        answers: [
          ...answers,
          ...lostReplies.flatMap((l) =>
            l.retryOrderId === null
              ? []
              : [{ sku: l.sku, userId: l.userId, requestId: l.requestId, status: l.retryOutcome === 'OK' ? 201 : 409, orderId: l.retryOrderId }],
          ),
        ],
        // A lost reply whose retry got no answer either never learned its outcome.
        unread: [...[...inFlight].map(({ attempt }) => attempt!), ...lostReplies.filter((l) => l.retryOutcome === null)].map(({ sku, userId, requestId }) => ({
          sku,
          userId,
          requestId,
        })),
        lastOkAt,
        firstSoldOutMs,
        admissionClosed,
        beforeOpening,
        lostReplies,
        timeline,
      });
    };
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
