import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

const HOST = '127.0.0.1';
const READY_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 10_000;
/** Prometheus applies a change of targets at most every 5 s; then a first scrape, on a loaded machine. */
const FIRST_SCRAPE_DEADLINE_MS = 30_000;
/** Short enough that a sale of a few seconds is a graph, not a dot. */
export const SCRAPE_INTERVAL = '1s';

/** The alert rules an operator loads next to the dashboard; bench loads them too, so a run shows which would fire. */
export const ALERT_RULES = fileURLToPath(new URL('../../../alerts/seckill.yml', import.meta.url));

/** The processes of a run Prometheus scrapes; each is a job of its own, `seckill-<process>`. */
export type ScrapeJob = 'serve' | 'relay' | 'consume' | 'reconcile';

export class PrometheusMissingError extends Error {
  readonly code = 'PROMETHEUS_MISSING';
}

/**
 * A Prometheus of bench's own (`bench --prometheus`): its own process on a
 * free port of 127.0.0.1, its data in a temp dir, scraping the run's
 * processes every second and evaluating alerts/seckill.yml. The processes of
 * a run come and go (a strategy after another, a fault's restart), so their
 * addresses are a file_sd targets file bench rewrites, which Prometheus
 * watches: no reload, no restart.
 */
export class OwnPrometheus {
  private readonly targets = new Map<ScrapeJob, Set<string>>();

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get logFile(): string {
    return join(this.dir, 'prometheus.log');
  }

  /**
   * Starts it and waits until it is ready. `detached`: in a process group of
   * its own, so it may outlive bench (--keep-prometheus) and a Ctrl-C of
   * bench's terminal does not reach it; otherwise it is bench's child and ends
   * with it.
   */
  static async start({ detached = false, binary = 'prometheus' }: { detached?: boolean; binary?: string } = {}): Promise<OwnPrometheus> {
    const dir = await mkdtemp(join(tmpdir(), 'seckill-prometheus-'));
    try {
      const port = await freePort();
      await writeFile(join(dir, 'targets.json'), '[]\n');
      await writeFile(join(dir, 'prometheus.yml'), scrapeConfig(dir));
      // The log goes to a file, not a pipe: a kept Prometheus outlives bench, and a pipe would break with it.
      const log = openSync(join(dir, 'prometheus.log'), 'a');
      const child = spawn(
        binary,
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=${HOST}:${port}`,
          '--storage.tsdb.retention.time=1d',
        ],
        { stdio: ['ignore', log, log], detached },
      );
      closeSync(log);
      const prometheus = new OwnPrometheus(child, port, dir);
      await prometheus.ready(binary);
      return prometheus;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private async ready(binary: string): Promise<void> {
    const failed = new Promise<never>((_, reject) => {
      this.child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new PrometheusMissingError(`--prometheus: ${binary} is not installed (on Debian and Ubuntu: apt-get install prometheus; it brings promtool too)`)
            : new Error(`${binary}: ${error.message}`),
        ),
      );
      this.child.once(
        'exit',
        (code, signal) => void this.tail().then((log) => reject(new Error(`prometheus exited (${signal ?? code}) while starting: ${log}`))),
      );
    });
    failed.catch(() => {});
    const deadline = Date.now() + READY_DEADLINE_MS;
    try {
      while (!(await Promise.race([answers(`${this.url}/-/ready`), failed]))) {
        if (Date.now() > deadline) throw new Error(`prometheus on ${this.url} was not ready within ${READY_DEADLINE_MS / 1000} s: ${await this.tail()}`);
        await sleep(100);
      }
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  /** The last lines of its log, for an error. */
  private async tail(): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-3).join(' | ');
  }

  /** Scrapes `address` (host:port) as a process of this job from now on. */
  async scrape(job: ScrapeJob, address: string): Promise<void> {
    const known = this.targets.get(job) ?? new Set<string>();
    known.add(address);
    this.targets.set(job, known);
    await this.writeTargets();
  }

  /**
   * Resolves once every process given to scrape() has been scraped successfully since `since` (ms; default:
   * ever): a sale that starts before the first would be missing from the graphs (Prometheus applies new
   * targets up to 5 s late), and a run that stops its processes before a last one would end them early.
   */
  async untilScraped(since = 0): Promise<void> {
    const wanted = [...this.targets.values()].flatMap((addresses) => [...addresses]);
    const deadline = Date.now() + FIRST_SCRAPE_DEADLINE_MS;
    for (;;) {
      const up = await this.healthyTargets(since);
      const waiting = wanted.filter((address) => !up.has(address));
      if (waiting.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`prometheus at ${this.url} has not scraped ${waiting.join(', ')} within ${FIRST_SCRAPE_DEADLINE_MS / 1000} s: see ${this.url}/targets`);
      await sleep(200);
    }
  }

  /** The addresses whose last scrape succeeded, at `since` (ms) or later. */
  private async healthyTargets(since: number): Promise<Set<string>> {
    const body = await getJson(`${this.url}/api/v1/targets?state=active`);
    type Target = { labels: Record<string, string>; health: string; lastScrape: string };
    const targets = (body as { data?: { activeTargets?: Target[] } }).data?.activeTargets ?? [];
    return new Set(targets.filter((t) => t.health === 'up' && Date.parse(t.lastScrape) >= since).map((t) => t.labels.instance));
  }

  /** Stops scraping every process (a run ended: they are gone); what was scraped stays in its data. */
  async forgetTargets(): Promise<void> {
    this.targets.clear();
    await this.writeTargets();
  }

  /** Written whole and renamed into place: Prometheus never reads half a file. */
  private async writeTargets(): Promise<void> {
    const groups = [...this.targets].map(([job, addresses]) => ({ targets: [...addresses], labels: { job: `seckill-${job}` } }));
    const file = join(this.dir, 'targets.json');
    await writeFile(`${file}.new`, `${JSON.stringify(groups, null, 2)}\n`);
    await rename(`${file}.new`, file);
  }

  /** Leaves it running after bench exits (--keep-prometheus): bench no longer waits for it. */
  leaveRunning(): void {
    this.child.unref();
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
    await exited.finally(() => clearTimeout(killer));
  }

  /** Stops it (SIGTERM, SIGKILL after 10 s) and deletes its data. */
  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Prometheus's configuration for a run: every process of the targets file, every SCRAPE_INTERVAL; the alert rules evaluated as often. */
const scrapeConfig = (dir: string): string =>
  [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL}`,
    `  scrape_timeout: ${SCRAPE_INTERVAL}`,
    `  evaluation_interval: ${SCRAPE_INTERVAL}`,
    'rule_files:',
    `  - ${JSON.stringify(ALERT_RULES)}`,
    'scrape_configs:',
    '  - job_name: seckill',
    '    file_sd_configs:',
    `      - files: [${JSON.stringify(join(dir, 'targets.json'))}]`,
    '        refresh_interval: 1s',
    '',
  ].join('\n');

/** GET url's JSON body. */
const getJson = (url: string): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const req = get(url, { timeout: 5_000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`GET ${url} answered ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${url}: no answer within 5 s`)));
    req.once('error', reject);
  });

/** True when GET url answers 200. */
const answers = (url: string): Promise<boolean> =>
  new Promise((done) => {
    const req = get(url, { timeout: 1_000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => done(false));
  });
