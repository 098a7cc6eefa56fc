import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/seckill', import.meta.url));

/** How long a started command may take to say it is ready (it may be waiting out a dependency's outage, see --wait). */
const READY_DEADLINE_MS = 120_000;
/** How long a stopping process may take before it is killed. */
const STOP_DEADLINE_MS = 15_000;

export interface SeckillProcess {
  /** the first line the command printed with --json, parsed */
  ready: Record<string, unknown>;
  process: ChildProcess;
  /** what it wrote to stderr so far (its log) */
  stderr(): string;
  /** resolves with the exit code (null when killed by a signal) once it ended */
  exited: Promise<number | null>;
  /** sends the signal (SIGTERM: graceful) unless it already ended, and waits for the end (SIGKILL after 15 s) */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a seckill command (serve, relay, consume) as a process of its own,
 * and resolves once it printed its --json ready line. Used by bench and by
 * the tests, which need real processes to kill. Every wait has a deadline:
 * a process not ready in time is killed and the start rejected.
 */
export interface StartOptions {
  readyDeadlineMs?: number;
  /** argv prefix the process is started through (a lab host's `ip netns exec <ns>`); it must exec node, so signals reach it */
  launcher?: string[];
  /** called with each piece of its log (stderr) as it comes, also before it is ready */
  onLog?: (text: string) => void;
}

export const startSeckillProcess = (
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  { readyDeadlineMs = READY_DEADLINE_MS, launcher = [], onLog }: StartOptions = {},
): Promise<SeckillProcess> =>
  new Promise((resolve, reject) => {
    const fullEnv = { ...process.env, ...env };
    // `bench --cpu-prof DIR`: every process bench starts writes a V8 CPU profile there when it exits (node refuses --cpu-prof in NODE_OPTIONS).
    const profile = fullEnv.SECKILL_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', fullEnv.SECKILL_CPU_PROF_DIR] : [];
    const [file, ...argv] = [...launcher, process.execPath, ...profile, BIN, command, '--json', ...args];
    const child = spawn(file, argv, { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onLog?.(d.toString());
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const alive = () => child.exitCode === null && child.signalCode === null;
    const tooSlow = setTimeout(() => {
      reject(new Error(`seckill ${command} was not ready within ${readyDeadlineMs / 1000} s: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      child.kill('SIGKILL');
    }, readyDeadlineMs);
    child.once('exit', (code, signal) => {
      clearTimeout(tooSlow);
      reject(new Error(`seckill ${command} exited (${signal ?? code}) before it was ready: ${stderr.trim()}`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(tooSlow);
      resolve({
        ready: JSON.parse(line) as Record<string, unknown>,
        process: child,
        stderr: () => stderr,
        exited,
        stop: (signal = 'SIGTERM') => {
          if (!alive()) return exited;
          child.kill(signal);
          const killer = setTimeout(() => alive() && child.kill('SIGKILL'), STOP_DEADLINE_MS);
          return exited.finally(() => clearTimeout(killer));
        },
      });
    });
  });
