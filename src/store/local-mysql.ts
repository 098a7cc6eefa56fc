/**
 * A MariaDB server of the project's own: `mariadbd` from the machine
 * (/usr/sbin, or $SECKILL_MARIADBD), on a state dir of its own (data, socket,
 * pid file, log), listening on a host and port of its own, so a test or the
 * lab can stop it, kill it and start it again without touching the
 * machine's MySQL. The only module that knows how one is initialised,
 * started and stopped.
 *
 * Started with --no-defaults (no /etc/mysql option file leaks in) and root
 * with an empty password from any address (init.sql, run on every start), as
 * the suite's MySQL is. A `launcher` runs it inside something, such as a
 * network namespace (`['ip', 'netns', 'exec', 'lab-mysql']`): the launcher
 * must exec mariadbd (ip netns exec does), because the pid recorded is the
 * spawned one. The probe goes through the unix socket, which a namespace
 * does not hide: a mariadbd whose host is cut off still counts as up.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { logSince, recordedPid, signalIfAlive, sizeOf, stopUntilGone } from '../local-process.js';

const START_DEADLINE_MS = 60_000;
/** A clean shutdown of a small data dir takes 1–2 s; past this it is killed (crash recovery at the next start). */
const STOP_DEADLINE_MS = 30_000;

export class LocalMysqlError extends Error {
  readonly code = 'LOCAL_MYSQL';
}

export interface LocalMysqlOptions {
  /** State dir: data/, mysqld.sock, mariadbd.pid, mariadbd.log. The socket path must stay under 108 bytes. */
  dir: string;
  port: number;
  /** Listen address (default 127.0.0.1); clients connect to it. */
  host?: string;
  /** argv prefix mariadbd is run under, e.g. ['ip', 'netns', 'exec', 'lab-mysql']; it must exec mariadbd. */
  launcher?: string[];
  onProgress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface LocalMysqlStart {
  pid: number;
  alreadyRunning: boolean;
  /** Time to create the data dir (0 when it existed): a copy of the cached template, or the template's own initialisation. */
  initMs: number;
  /** Time from launching mariadbd to its first answer (0 when already running). */
  readyMs: number;
}

/** Root may log in from any address with an empty password: clients of a lab host come from its bridge, not localhost. */
const INIT_SQL = ["CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '';", "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;", ''].join('\n');

/** Small on purpose: a test's sale fits, and start, copy and crash recovery stay quick. */
const SIZING = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M'];

const run = promisify(execFile);

export class LocalMysql {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  private readonly launcher: string[];
  private readonly progress: (line: string) => void;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: LocalMysqlOptions) {
    this.dir = resolve(options.dir);
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port;
    this.launcher = options.launcher ?? [];
    this.progress = options.onProgress ?? (() => {});
    this.env = options.env ?? process.env;
  }

  /** mysql://root@host:port/<database>, what MYSQL_URL takes. */
  url(database = 'seckill'): string {
    return `mysql://root@${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}/${database}`;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }
  get socket(): string {
    return join(this.dir, 'mysqld.sock');
  }
  get pidFile(): string {
    return join(this.dir, 'mariadbd.pid');
  }
  get logFile(): string {
    return join(this.dir, 'mariadbd.log');
  }
  /** mariadbd's stdout and stderr: what it says before its error log is open. */
  private get outFile(): string {
    return join(this.dir, 'mariadbd.out');
  }
  private get mariadbd(): string {
    return this.env.SECKILL_MARIADBD ?? '/usr/sbin/mariadbd';
  }

  /** The pid of this dir's mariadbd, when it runs (its command line names this data dir). */
  pid(): Promise<number | null> {
    return recordedPid(this.pidFile, this.dataDir);
  }

  /** Whether it answers a query now, over its unix socket. */
  async answers(): Promise<boolean> {
    try {
      const conn = await mysql.createConnection({ socketPath: this.socket, user: 'root', connectTimeout: 1_000 });
      try {
        await conn.query('SELECT 1');
        return true;
      } finally {
        conn.destroy();
      }
    } catch {
      return false;
    }
  }

  /**
   * Starts mariadbd (detached: it outlives this process until stopped) and
   * waits until it answers. Idempotent: one already running from this dir is
   * waited for and reported.
   */
  async start(): Promise<LocalMysqlStart> {
    const running = await this.pid();
    if (running !== null) {
      await this.waitUntilAnswers(running, 0, 0);
      return { pid: running, alreadyRunning: true, initMs: 0, readyMs: 0 };
    }
    const initStarted = Date.now();
    const created = await this.ensureDataDir();
    const initMs = created ? Date.now() - initStarted : 0;
    await writeFile(join(this.dir, 'init.sql'), INIT_SQL);
    await rm(this.socket, { force: true }); // one a SIGKILL left behind

    const args = [
      '--no-defaults',
      `--datadir=${this.dataDir}`,
      `--socket=${this.socket}`,
      `--pid-file=${this.pidFile}`,
      `--log-error=${this.logFile}`,
      `--bind-address=${this.host}`,
      `--port=${this.port}`,
      `--init-file=${join(this.dir, 'init.sql')}`,
      '--skip-name-resolve',
      ...SIZING,
      // mariadbd refuses to run as root unless told to.
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ];
    const [command, ...prefix] = [...this.launcher, this.mariadbd];
    const logFrom = { log: await sizeOf(this.logFile), out: await sizeOf(this.outFile) };
    const out = openSync(this.outFile, 'a');
    this.progress(`starting ${[command, ...prefix].join(' ')} on ${this.host}:${this.port}, log ${this.logFile}`);
    const launched = Date.now();
    const child = spawn(command, [...prefix, ...args], { detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    const pid = await new Promise<number>((done, fail) => {
      child.once('spawn', () => done(child.pid!));
      child.once('error', (error) => fail(new LocalMysqlError(`${command}: ${error.message}`)));
    });
    child.unref();
    // mariadbd writes the same pid here once it runs; recorded now so a start that fails can still be stopped.
    await writeFile(this.pidFile, `${pid}\n`);
    await this.waitUntilAnswers(pid, logFrom.log, logFrom.out);
    const readyMs = Date.now() - launched;
    this.progress(`answering after ${readyMs} ms (pid ${pid})`);
    return { pid, alreadyRunning: false, initMs, readyMs };
  }

  /** A clean shutdown (SIGTERM), SIGKILL past 30 s; stopping a stopped server is fine. */
  async stop(): Promise<void> {
    const pid = await this.pid();
    if (pid === null) return;
    this.progress(`stopping pid ${pid}`);
    await stopUntilGone(pid, {
      stillRunning: async () => (await this.pid()) === pid,
      deadlineMs: STOP_DEADLINE_MS,
      onKill: () => this.progress(`pid ${pid} still alive after ${STOP_DEADLINE_MS / 1000} s: SIGKILL`),
    });
    await rm(this.pidFile, { force: true });
  }

  /** SIGKILL, as a crash: no shutdown, InnoDB recovers at the next start. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const pid = await this.pid();
    if (pid === null) return;
    this.progress(`killing pid ${pid}`);
    signalIfAlive(pid, 'SIGKILL');
    while ((await this.pid()) === pid) await sleep(20);
  }

  /** SIGSTOP: it neither answers nor closes a connection, as a host cut off or a stalled disk looks to its clients. */
  async pause(): Promise<void> {
    const pid = await this.pid();
    if (pid === null) throw new LocalMysqlError(`no mariadbd runs from ${this.dir}`);
    signalIfAlive(pid, 'SIGSTOP');
  }

  /** SIGCONT after pause(). */
  async resume(): Promise<void> {
    const pid = await this.pid();
    if (pid !== null) signalIfAlive(pid, 'SIGCONT');
  }

  async restart(): Promise<LocalMysqlStart> {
    await this.stop();
    return this.start();
  }

  /** Stops it and deletes the state dir. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * A data dir for this server: a copy of a template initialised once per
   * machine and mariadbd version ($SECKILL_CACHE, default ~/.cache/seckill):
   * initialising takes 2–4 s, copying ~0.1 s. False when it existed.
   */
  private async ensureDataDir(): Promise<boolean> {
    if (existsSync(join(this.dataDir, 'mysql'))) return false;
    await mkdir(this.dir, { recursive: true });
    const template = await this.ensureTemplate();
    await rm(this.dataDir, { recursive: true, force: true });
    await cp(template, this.dataDir, { recursive: true });
    return true;
  }

  private async ensureTemplate(): Promise<string> {
    const { stdout } = await run(this.mariadbd, ['--version']).catch((error: Error) => {
      throw new LocalMysqlError(`${this.mariadbd} --version: ${error.message} (a MySQL of our own needs MariaDB's mariadbd; set SECKILL_MARIADBD)`);
    });
    const version = /Ver\s+(\S+)/.exec(stdout)?.[1] ?? 'unknown';
    const cache = resolve(this.env.SECKILL_CACHE ?? join(homedir(), '.cache', 'seckill'));
    const template = join(cache, `mariadb-${version}-datadir`);
    if (existsSync(template)) return template;
    // Built aside and renamed into place, so two first starts at once do not mix files.
    const partial = `${template}.partial-${randomBytes(4).toString('hex')}`;
    await mkdir(cache, { recursive: true });
    this.progress(`initialising a MariaDB ${version} data dir template in ${template} (once)`);
    try {
      await run('mariadb-install-db', [
        '--no-defaults',
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        `--datadir=${partial}`,
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ...SIZING,
      ]);
      await rename(partial, template);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      if (existsSync(template)) return template; // another start finished first
      throw new LocalMysqlError(`mariadb-install-db failed: ${(error as Error).message}`);
    }
    return template;
  }

  private async waitUntilAnswers(pid: number, logFrom: number, outFrom: number): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    while (!(await this.answers())) {
      if ((await this.pid()) !== pid) {
        const out = await logSince(this.outFile, outFrom, 10);
        throw new LocalMysqlError(
          `mariadbd (pid ${pid}) exited while starting. ${this.logFile}:\n${await logSince(this.logFile, logFrom, 20, (l) => /\[(ERROR|Warning)\]/.test(l))}${out ? `\n${this.outFile}:\n${out}` : ''}`,
        );
      }
      if (Date.now() > deadline) {
        throw new LocalMysqlError(
          `mariadbd (pid ${pid}) did not answer within ${START_DEADLINE_MS / 1000} s; it is left running, see ${this.logFile}:\n${await logSince(this.logFile, logFrom)}`,
        );
      }
      await sleep(50);
    }
  }
}
