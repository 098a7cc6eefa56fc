import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const HOST = '127.0.0.1';
const START_DEADLINE_MS = 15_000;

/**
 * A redis-server of bench's own, for runs that crash Redis (the restart-redis
 * fault): bench may kill only a Redis it started. Every write is in the
 * append-only file before it is answered (appendfsync always), so a SIGKILL
 * loses nothing a client was told had happened — the durability a real sale
 * would run with.
 */
export class OwnRedis {
  private child: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), await mkdtemp(join(tmpdir(), 'seckill-bench-redis-')));
    try {
      await redis.launch();
    } catch (error) {
      await rm(redis.dir, { recursive: true, force: true });
      throw error;
    }
    return redis;
  }

  /** Starts redis-server on the port and dir of this instance (the same on every restart) and waits for its PONG. */
  async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      HOST,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = '';
    child.stdout.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4_000)));
    child.stderr.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4_000)));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === 'ENOENT'
              ? 'redis-server not found on PATH (bench starts its own Redis for the restart-redis fault and --own-redis)'
              : `redis-server: ${error.message}`,
          ),
        ),
      );
      child.once('exit', (code, signal) =>
        reject(new Error(`redis-server on port ${this.port} exited (${signal ?? code}) while starting: ${this.log.trim().split('\n').slice(-5).join(' | ')}`)),
      );
    });
    failed.catch(() => {});
    this.child = child;
    const deadline = Date.now() + START_DEADLINE_MS;
    while (!(await Promise.race([pong(this.port), failed]))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within ${START_DEADLINE_MS / 1000} s`);
      await sleep(50);
    }
  }

  /** Sends the signal and waits for the process to end. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /** Shuts it down (SIGTERM) and deletes its data. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** True once the server answers PONG (not LOADING while it replays its append-only file). */
const pong = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect({ port, host: HOST });
    let reply = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
