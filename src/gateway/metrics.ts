import cluster from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The gateway's Prometheus metrics. prom-client gives the text exposition
 * format, histograms and the process metrics (event-loop lag, heap) that an
 * operator wants next to ours, correctly escaped, for one small dependency.
 */
export const createGatewayMetrics = (soldOutCount: () => number = () => 0) => {
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
    help: 'Buy requests decided by one reserve.lua call (group commit: a SKU\'s requests arriving together share a call); _count is calls, _sum requests',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [registry],
  });
  const dependencyErrors = new Counter({
    name: 'seckill_dependency_errors_total',
    help: 'Calls that failed because a dependency was down or slow',
    labelNames: ['dependency'],
    registers: [registry],
  });
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
  // In a worker of `serve --workers` this is what prom-client sends the
  // primary when it collects the fleet's metrics (see workers.ts).
  if (cluster.isWorker) AggregatorRegistry.setRegistries([registry]);
  // Label children are looked up once per outcome, not once per request.
  const byOutcome = new Map<string, Counter.Internal>();
  const countOutcome = (outcome: string) => {
    let child = byOutcome.get(outcome);
    if (!child) byOutcome.set(outcome, (child = requests.labels(outcome)));
    child.inc();
  };
  return { registry, countOutcome, latency, reserveCallSize, dependencyErrors, clientsCut };
};

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
