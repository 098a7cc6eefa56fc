import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/seckill', import.meta.url));

export interface SeckillProcess {
  /** the first line the command printed with --json, parsed */
  ready: Record<string, unknown>;
  process: ChildProcess;
  /** what it wrote to stderr so far (its log) */
  stderr(): string;
  /** resolves with the exit code (null when killed by a signal) once it ended */
  exited: Promise<number | null>;
  /** sends the signal (SIGTERM: graceful) unless it already ended, and waits for the end */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a seckill command (serve, relay, consume) as a process of its own,
 * and resolves once it printed its --json ready line. Used by bench and by
 * the tests, which need real processes to kill.
 */
export const startSeckillProcess = (command: string, args: string[], env: NodeJS.ProcessEnv): Promise<SeckillProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, command, '--json', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.once('exit', (code, signal) => reject(new Error(`seckill ${command} exited (${signal ?? code}) before it was ready: ${stderr.trim()}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      resolve({
        ready: JSON.parse(line) as Record<string, unknown>,
        process: child,
        stderr: () => stderr,
        exited,
        stop: (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    });
  });
