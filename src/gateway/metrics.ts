import cluster from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEPENDENCIES, type HealthReport } from './health.js';
import { CUT_REASONS } from './http-listener.js';

/**
 * The gateway's Prometheus metrics. prom-client gives the text exposition
 * format, histograms and the process metrics (event-loop lag, heap) that an
 * operator wants next to ours, correctly escaped, for one small dependency.
 */
export const createGatewayMetrics = (soldOutCount: () => number = () => 0, dependencyHealth?: () => Promise<HealthReport>) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'seckill_' });
  const requests = new Counter({
    name: 'seckill_reserve_requests_total',
    help: 'POST /reserve answers by outcome (OK, SOLD_OUT, LIMIT, RATE_LIMITED, REDIS_DOWN, ...)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'seckill_reserve_duration_seconds',
    help: 'Time from request to answer for POST /reserve',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const reserveCallSize = new Histogram({
    name: 'seckill_reserve_call_requests',
    help: "Buy requests decided by one reserve.lua call (group commit: a SKU's requests arriving together share a call); _count is calls, _sum requests",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [registry],
  });
  const bucketTransfers = new Counter({
    name: 'seckill_bucket_transfers_total',
    help: 'Steps of transfers between the stock buckets of a bucketed SKU: sent (units debited from a donor), credited (the recipient credited), finished-elsewhere (already credited by another process)',
    labelNames: ['step'],
    registers: [registry],
  });
  const dependencyErrors = new Counter({
    name: 'seckill_dependency_errors_total',
    help: 'Calls that failed because a dependency was down or slow',
    labelNames: ['dependency'],
    registers: [registry],
  });
  const dependencyChecks = new Counter({
    name: 'seckill_dependency_checks_total',
    help: 'Checks of Redis and MySQL behind GET /health and seckill_dependency_up (at most one a second, however often they are asked)',
    registers: [registry],
  });
  if (dependencyHealth) {
    new Gauge({
      name: 'seckill_dependency_up',
      help: 'Whether the dependency answered its last check (1) or not (0): the check of GET /health, at most a second old',
      labelNames: ['dependency'],
      registers: [registry],
      // Across `serve --workers`: down if any worker finds it down.
      aggregator: 'min',
      async collect() {
        const report = await dependencyHealth();
        for (const name of DEPENDENCIES) this.labels(name).set(report[name] === 'up' ? 1 : 0);
      },
    });
  }
  new Gauge({
    name: 'seckill_sold_out_skus',
    help: 'SKUs this process currently refuses locally as sold out',
    registers: [registry],
    // Across `serve --workers` the workers flag the same SKUs (a sell-out is
    // announced to all over pub/sub), so a sum would count each SKU once per
    // worker. The most any worker flags is the fleet's count, also while one
    // worker has not heard of a sell-out yet.
    aggregator: 'max',
    collect() {
      this.set(soldOutCount());
    },
  });
  const clientsCut = new Counter({
    name: 'seckill_http_clients_cut_total',
    help: 'Connections the server closed: a request not whole within --request-timeout (timeout), or one that does not parse (bad_request)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const answers = new Counter({
    name: 'seckill_http_responses_total',
    help: "Answers of the buyers' port by status class (2xx, 4xx, 5xx, ...), every route: the share of 5xx is what an alert watches",
    labelNames: ['class'],
    registers: [registry],
  });
  const countClass = perLabel(answers);
  const authRefused = new Counter({
    name: 'seckill_auth_refused_total',
    help: 'Requests refused for who they claim to be (--auth jwt): 401 by reason (MISSING, EXPIRED, BAD_SIGNATURE, WRONG_ISSUER, WRONG_AUDIENCE, ...), WRONG_USER for a userId that is not the bearer token sub',
    labelNames: ['reason'],
    registers: [registry],
  });
  const keyReloads = new Counter({
    name: 'seckill_auth_key_reloads_total',
    help: 'Reloads of the --jwks / --jwt-public-key file on SIGHUP: ok, or failed (the keys in use were kept)',
    labelNames: ['result'],
    registers: [registry],
  });
  // Series of a closed set of label values exist from the start, at 0: a graph of them (and a rate()) shows 0, not "No data", until one happens.
  for (const name of DEPENDENCIES) dependencyErrors.labels(name).inc(0);
  for (const reason of CUT_REASONS) clientsCut.labels(reason).inc(0);
  // In a worker of `serve --workers` this is what prom-client sends the
  // primary when it collects the fleet's metrics (see workers.ts).
  if (cluster.isWorker) AggregatorRegistry.setRegistries([registry]);
  return {
    registry,
    countOutcome: perLabel(requests),
    countAuthRefused: perLabel(authRefused),
    /** an answer's status, counted by class: `STATUS_CLASSES` holds the label strings, so none is built per request */
    countAnswer: (status: number) => countClass(STATUS_CLASSES[Math.floor(status / 100)] ?? 'other'),
    latency,
    reserveCallSize,
    bucketTransfers,
    dependencyErrors,
    dependencyChecks,
    clientsCut,
    keyReloads,
  };
};

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** Counts by one label, its children looked up once per value, not once per request. */
const perLabel = (counter: Counter) => {
  const children = new Map<string, Counter.Internal>();
  return (value: string) => {
    let child = children.get(value);
    if (!child) children.set(value, (child = counter.labels(value)));
    child.inc();
  };
};

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
