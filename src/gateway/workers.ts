import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { MetricsPage } from '../metrics-server.js';
import type { HealthReport } from './health.js';

/**
 * `seckill serve --workers N`: one port, N processes. The primary only
 * supervises: it forks the workers (node's cluster module shares the
 * listening socket between them), restarts one that crashed (and a
 * replacement that failed its start), stops them all on SIGTERM, and answers
 * their GET /metrics with the fleet's sums (and, with --metrics-port, serves
 * the operator port itself: the fleet's sums, the workers' health). Each worker is the single-process
 * serve, with its own Redis and MySQL connections; everything they must agree
 * on (stock, admission tickets, sold-out flags over pub/sub) is in Redis
 * already.
 */

/** What a worker tells its primary (prom-client's own collection messages travel on the same channel). */
type WorkerMessage =
  { type: 'seckill:listening'; url: string } | { type: 'seckill:metrics-request'; id: number } | { type: 'seckill:health'; id: number; report: HealthReport };
/** The primary's answer to a metrics request (the fleet's text, or why there is none), and its question for a worker's health. */
type PrimaryMessage =
  | { type: 'seckill:metrics'; id: number; text: string }
  | { type: 'seckill:metrics'; id: number; error: string }
  | { type: 'seckill:health-request'; id: number };

const WORKER_MESSAGES = new Set(['seckill:listening', 'seckill:metrics-request', 'seckill:health']);
const PRIMARY_MESSAGES = new Set(['seckill:metrics', 'seckill:health-request']);
const isWorkerMessage = (message: unknown): message is WorkerMessage =>
  typeof message === 'object' && message !== null && WORKER_MESSAGES.has((message as WorkerMessage).type);
const isPrimaryMessage = (message: unknown): message is PrimaryMessage =>
  typeof message === 'object' && message !== null && PRIMARY_MESSAGES.has((message as PrimaryMessage).type);

/** How long the primary waits for a worker's health before calling it down. */
const WORKER_HEALTH_TIMEOUT_MS = 3_000;

/** The fleet's GET /health: ok when every live worker finds both stores up; each worker's own report beside its pid. */
export type FleetHealth = HealthReport & { workers: ({ pid: number } & HealthReport)[] };

/** A crashed worker (or a replacement that failed its start) is restarted after 100 ms, doubling with each crash in the last minute, at most 5 s: one that dies on every request, or a store down for minutes, must not spin. */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
const CRASH_WINDOW_MS = 60_000;
/** Past its own --shutdown-timeout a worker still closes its stores; past this much more the primary kills it. */
const STOP_GRACE_MS = 5_000;

export interface FleetOptions {
  workers: number;
  /** the command line each worker runs: serve's own, with the port the primary chose */
  args: string[];
  /** serve's --shutdown-timeout: how long a worker drains in-flight requests on SIGTERM */
  shutdownTimeoutMs: number;
  /** called once, when every worker listens */
  onListening(url: string, workerPids: number[]): void;
  log(line: string): void;
}

export interface Fleet {
  /** stops restarting and sends SIGTERM to every worker; resolves as `ended` does */
  stop(): Promise<number>;
  /** passes a reload (SIGHUP: the --auth jwt key files) on to every worker; each reloads and logs for itself */
  reload(): void;
  /** the fleet's GET /metrics (the workers' sums) for the operator port */
  metricsPage(): Promise<MetricsPage>;
  /** asks every listening worker for its health (each answers from its check, at most a second old) */
  health(): Promise<FleetHealth>;
  /**
   * resolves with the fleet's exit code once every worker has exited: 0 after
   * a stop in which each drained and exited cleanly, 1 if one did not, or the
   * code of a worker of the first start that failed it (a bad flag or key
   * file fails every worker alike: restarting it would fail again)
   */
  ended: Promise<number>;
}

/** The primary's side: forks the workers and keeps them running until stopped. */
export const startFleet = (options: FleetOptions): Fleet => {
  cluster.setupPrimary({ args: options.args });
  const aggregator = new AggregatorRegistry();
  /** live workers: whether each has said it listens, and whether it was forked to replace one that died */
  const workers = new Map<Worker, { listened: boolean; replacement: boolean }>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let crashTimes: number[] = [];
  let restarts = 0;
  let announced = false;
  let stopping = false;
  let exitCode = 0;
  let end!: (code: number) => void;
  const ended = new Promise<number>((resolve) => (end = resolve));

  const fork = (replacement: boolean) => workers.set(cluster.fork(), { listened: false, replacement });

  const listening = (worker: Worker, url: string) => {
    const state = workers.get(worker);
    if (state) state.listened = true;
    if (announced) return options.log(`worker ${worker.process.pid} listening`);
    if ([...workers.values()].filter((w) => w.listened).length < options.workers) return;
    announced = true;
    options.onListening(
      url,
      [...workers.keys()].map((w) => w.process.pid!),
    );
  };

  const answerMetrics = (worker: Worker, id: number) =>
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: 'seckill:metrics', id, text } satisfies PrimaryMessage),
      (error: Error) => worker.isConnected() && worker.send({ type: 'seckill:metrics', id, error: error.message } satisfies PrimaryMessage),
    );

  const healthAnswers = new Map<number, (report: HealthReport) => void>();
  let nextHealthId = 0;
  const workerHealth = (worker: Worker): Promise<{ pid: number } & HealthReport> => {
    const pid = worker.process.pid!;
    const down = (why: string): HealthReport => ({ ok: false, redis: why, mysql: why });
    if (!worker.isConnected()) return Promise.resolve({ pid, ...down('down: worker not connected') });
    const id = nextHealthId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(down(`down: worker did not answer in ${WORKER_HEALTH_TIMEOUT_MS} ms`)), WORKER_HEALTH_TIMEOUT_MS);
      const answer = (report: HealthReport) => {
        clearTimeout(timer);
        healthAnswers.delete(id);
        resolve({ pid, ...report });
      };
      healthAnswers.set(id, answer);
      worker.send({ type: 'seckill:health-request', id } satisfies PrimaryMessage);
    });
  };
  const health = async (): Promise<FleetHealth> => {
    const listening = [...workers].filter(([, state]) => state.listened).map(([worker]) => worker);
    const reports = await Promise.all(listening.map(workerHealth));
    const firstDown = (name: 'redis' | 'mysql') => reports.find((r) => r[name] !== 'up')?.[name] ?? 'up';
    if (reports.length === 0) return { ok: false, redis: 'unknown: no worker listening', mysql: 'unknown: no worker listening', workers: [] };
    return { ok: reports.every((r) => r.ok), redis: firstDown('redis'), mysql: firstDown('mysql'), workers: reports };
  };

  const metricsPage = async (): Promise<MetricsPage> => ({
    status: 200,
    headers: { 'content-type': aggregator.contentType },
    text: await aggregator.clusterMetrics(),
  });

  const stop = (code: number): Promise<number> => {
    if (stopping) return ended;
    stopping = true;
    exitCode = code;
    for (const timer of restartTimers) clearTimeout(timer);
    for (const worker of workers.keys()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      for (const worker of workers.keys()) {
        options.log(`worker ${worker.process.pid} still running ${options.shutdownTimeoutMs + STOP_GRACE_MS} ms after SIGTERM: killing it`);
        worker.process.kill('SIGKILL');
      }
    }, options.shutdownTimeoutMs + STOP_GRACE_MS).unref();
    if (workers.size === 0) end(exitCode);
    return ended;
  };

  /** `what` says how it ended: `died (signal SIGKILL)`, `failed at start-up (exit code 2)` */
  const restart = (worker: Worker, what: string) => {
    const now = Date.now();
    crashTimes = [...crashTimes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (crashTimes.length - 1));
    restarts += 1;
    options.log(`worker ${worker.process.pid} ${what}: restart ${restarts} in ${delay} ms`);
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      fork(true);
    }, delay);
    restartTimers.add(timer);
  };

  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isWorkerMessage(message)) return;
    if (message.type === 'seckill:listening') listening(worker, message.url);
    else if (message.type === 'seckill:health') healthAnswers.get(message.id)?.(message.report);
    else void answerMetrics(worker, message.id);
  });

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    const state = workers.get(worker);
    workers.delete(worker);
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (stopping) {
      // A worker stopped before it could handle SIGTERM (still connecting) ends by that signal: not a failure.
      if (code !== 0 && signal !== 'SIGTERM') {
        options.log(`worker ${worker.process.pid} did not stop cleanly (${how})`);
        if (exitCode === 0) exitCode = 1;
      }
      if (workers.size === 0) end(exitCode);
    } else if (state?.listened === false && !state.replacement) {
      // The first start: the fleet never listened, and what failed one worker
      // (a bad flag, a key file, an unreachable store past --wait) fails them all.
      options.log(`worker ${worker.process.pid} failed at start-up (${how}): stopping the others`);
      void stop(code || 1);
    } else {
      // A replacement that fails its start (a store down at that moment) is
      // tried again with the crash backoff, as a crash is: the workers still
      // serving keep selling, where stopping the fleet would end the sale.
      restart(worker, state?.listened === false ? `failed at start-up (${how})` : `died (${how})`);
    }
  });

  const reload = () => {
    for (const worker of workers.keys()) worker.process.kill('SIGHUP');
  };

  for (let i = 0; i < options.workers; i++) fork(false);
  return { stop: () => stop(0), reload, ended, metricsPage, health };
};

/** The worker's side: tell the primary it listens, ask it for the fleet's metrics, answer its health requests. */
export const joinFleet = (log: (line: string) => void) => {
  // prom-client answers the primary's collection requests only in a process
  // where an AggregatorRegistry was constructed (its constructor installs the
  // listener), reading the registries given to setRegistries (metrics.ts).
  // Installed now, so a worker still connecting to Redis answers with nothing
  // rather than leaving the fleet's scrape to time out.
  const prometheus = new AggregatorRegistry();
  const waiting = new Map<number, (page: MetricsPage) => void>();
  let nextId = 0;
  let health: (() => Promise<HealthReport>) | null = null;
  const send = (message: WorkerMessage) => process.send!(message);
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'seckill:health-request') {
      const starting: HealthReport = { ok: false, redis: 'unknown: still starting', mysql: 'unknown: still starting' };
      void (health ? health() : Promise.resolve(starting)).then((report) => process.connected && send({ type: 'seckill:health', id: message.id, report }));
      return;
    }
    const answer = waiting.get(message.id);
    waiting.delete(message.id);
    if ('text' in message) {
      // The pid says which worker answered: the text is the fleet's, whichever it was.
      answer?.({ status: 200, headers: { 'content-type': prometheus.contentType, 'x-seckill-worker': String(process.pid) }, text: message.text });
    } else {
      log(`fleet metrics unavailable: ${message.error}`);
      answer?.({ status: 503, headers: { 'content-type': 'text/plain' }, text: `fleet metrics unavailable: ${message.error}\n` });
    }
  });

  return {
    /** once the gateway runs: how this worker answers the primary's health requests */
    listening: (url: string, report: () => Promise<HealthReport>) => {
      health = report;
      send({ type: 'seckill:listening', url });
    },
    /** GET /metrics: the fleet's sums, collected by the primary (prom-client gives up on a worker that does not answer in 5 s) */
    renderMetrics: (): Promise<MetricsPage> =>
      new Promise((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        send({ type: 'seckill:metrics-request', id });
      }),
  };
};
