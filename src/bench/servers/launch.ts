/** The command lines of the processes one bench run starts: serve, relay, consume. */
import { randomBytes } from 'node:crypto';
import { PAY_TIMEOUT_SEC } from '../../config.js';
import type { StrategyName } from '../../gateway/strategies/strategy.js';
import type { JwtTraffic } from '../load/buyer-tokens.js';
import { freePort } from './ports.js';
import type { RunProcesses } from './run-processes.js';
import type { ScrapeJob } from './own-prometheus.js';
import type { BenchContext } from '../strategy-run.js';
import type { Scenario } from '../scenario.js';

/**
 * Pipeline processes in a fault run: a consumer that died hands its Kafka
 * partitions on after 6 s (the broker's minimum) instead of 30, and entries a
 * dead relay (or Redis-queue consumer) held are taken over after 2 s — what an
 * operator who expects crashes would set. Redelivery is absorbed by order id.
 */
const FAST_FAILOVER = ['--session-timeout', '6000', '--claim-after', '2000'];

/** Where a run's processes are scraped from (bench's own Prometheus, --prometheus). */
export interface ScrapeTargets {
  scrape(job: ScrapeJob, address: string): Promise<void>;
  /** resolves once each process given to scrape() has been scraped (since `since`, ms) */
  untilScraped(since?: number): Promise<void>;
  forgetTargets(): Promise<void>;
}

/** How often the watcher of a scraped run reads both stores: as often as Prometheus scrapes it (own-prometheus.ts). */
const WATCH_EVERY_SEC = '1';

/**
 * Under --prometheus, a process's metrics port: a fixed free one (a fault's restart listens on it again), scraped
 * from when the process is ready. Without, no port.
 */
const metricsPortFor = async (ctx: BenchContext) => {
  if (!ctx.prometheus) return { args: [], scrape: async () => {} };
  const port = await freePort();
  return { args: ['--metrics-port', String(port)], scrape: (job: ScrapeJob) => ctx.prometheus!.scrape(job, `127.0.0.1:${port}`) };
};

/**
 * Starts the server (unless benching a target), and says how to start the
 * pipeline behind it: relay and consumer for seckill, a consumer for a
 * baseline's payments.
 */
export const launch = async (
  ctx: BenchContext,
  scenario: Scenario,
  strategy: StrategyName,
  processes: RunProcesses,
  run: { withFaults: boolean; tokens: boolean; jwt: JwtTraffic | null; replicaAcks: number },
) => {
  const usesRedis = strategy === 'seckill';
  const payTimeout = String(scenario.payment?.payTimeoutSec ?? PAY_TIMEOUT_SEC);
  // Topics of this run only: nothing a previous run left in Kafka can reach these SKUs.
  const topicPrefix = `bench-${Date.now()}-${randomBytes(2).toString('hex')}.`;
  // With replica acks the pipeline waits for replicas too: the relay forwards, and the consumer takes as written, only what a replica holds.
  const acks = run.replicaAcks > 0 ? ['--replica-acks', String(run.replicaAcks)] : [];
  const common = ['--queue', ctx.queue, '--topic-prefix', topicPrefix, ...(run.withFaults ? FAST_FAILOVER : []), ...acks];
  // A fault run may kill the server: it gets a port of its own, so the new one listens where autocannon sends.
  const port = run.withFaults ? String(await freePort()) : '0';
  const serveArgs = [
    ...['--port', port, '--strategy', strategy, '--pay-timeout', payTimeout],
    ...(run.tokens ? ['--require-token'] : []),
    // The secret travels in the env (SECKILL_JWT_SECRET), not on a command line anyone can read.
    ...(run.jwt ? ['--auth', 'jwt', '--jwt-issuer', run.jwt.issuer, '--jwt-audience', run.jwt.audience] : []),
    ...((ctx.workers ?? 1) > 1 ? ['--workers', String(ctx.workers)] : []),
    ...(usesRedis && ctx.groupCommit === false ? ['--no-group-commit'] : []),
    ...(usesRedis && ctx.ticketLeaseMs ? ['--ticket-lease', String(ctx.ticketLeaseMs)] : []),
    // An answer naming an order waits until this many replicas hold it: a failover loses none.
    ...acks,
  ];
  // Clocks that disagree: each worker takes the next offset (src/clock.ts).
  const serveEnv = scenario.clockOffsetsMs.length > 0 ? { SECKILL_CLOCK_OFFSET_MS: scenario.clockOffsetsMs.join(',') } : {};
  if (ctx.target) return { url: ctx.target, metricsUrl: ctx.target, startPipeline: async () => {} };
  // With --workers the primary answers the operator port with the fleet's sums.
  const serveMetrics = await metricsPortFor(ctx);
  const { ready } = await processes.start('serve', [...serveArgs, ...serveMetrics.args], 0, serveEnv);
  const url = ready.listening as string;
  // Where its /metrics is: the operator port when it has one, else the buyers'.
  const metricsUrl = (ready.metrics as string | undefined) ?? url;
  await serveMetrics.scrape('serve');
  // The drift, stock and in-flight gauges of the dashboard are the reconcile watcher's: it reads both stores as an operator's would.
  if (usesRedis && ctx.prometheus) {
    const watcherMetrics = await metricsPortFor(ctx);
    const oneSku = scenario.skus.length === 1 ? ['--sku', scenario.skus[0].sku] : [];
    await processes.start('reconcile', ['--watch', WATCH_EVERY_SEC, ...oneSku, ...watcherMetrics.args]);
    await watcherMetrics.scrape('reconcile');
  }
  const startPipeline = async () => {
    if (usesRedis && ctx.queue === 'kafka') {
      const relayMetrics = await metricsPortFor(ctx);
      await processes.start('relay', [...common, ...relayMetrics.args]);
      await relayMetrics.scrape('relay');
    }
    // The baselines write orders themselves; they need a consumer only for its payment-timeout sweeper.
    if (usesRedis || scenario.payment) {
      const consumeArgs = [...(usesRedis ? common : ['--queue', 'redis']), '--pay-timeout', payTimeout, '--sweep-interval', '200'];
      const consumers = usesRedis ? (ctx.consumers ?? 1) : 1;
      for (let i = 0; i < consumers; i++) {
        const consumeMetrics = await metricsPortFor(ctx);
        await processes.start('consume', [...consumeArgs, ...consumeMetrics.args], i);
        await consumeMetrics.scrape('consume');
      }
    }
  };
  return { url, metricsUrl, startPipeline };
};
