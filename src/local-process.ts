import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What the project's own local runners share — the Kafka broker
 * (queue/broker.ts) and the Redis Cluster nodes (redis/local-cluster.ts):
 * the process they recorded, signals that may find it gone, stopping it
 * gently and then not, and the part of its log this run wrote.
 */

/**
 * The pid a local runner recorded in `pidFile`, if that process is alive and
 * still the one it started: a pid may be reused, so its command line must
 * contain `marker`. Without /proc (macOS) the signal check is trusted; an
 * exited child not yet reaped has an empty command line, so it counts as gone.
 */
export const recordedPid = async (pidFile: string, marker: string): Promise<number | null> => {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return cmdline === null || cmdline.includes(marker) ? pid : null;
};

export const signalIfAlive = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // It exited between the check and the signal: that is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
};

export interface StopOptions {
  /** whether the process is still the one we stop (its pid file and command line) */
  stillRunning: () => Promise<boolean>;
  /** past this, SIGKILL */
  deadlineMs: number;
  /** SIGTERM again this often (a process may drop a shutdown it cannot do yet); once when absent */
  repeatTermMs?: number;
  /** told when it comes to SIGKILL */
  onKill: () => void;
}

/** SIGTERM (a clean shutdown), repeated if asked, SIGKILL past the deadline; resolves once the process is gone. */
export const stopUntilGone = async (pid: number, { stillRunning, deadlineMs, repeatTermMs, onKill }: StopOptions): Promise<void> => {
  const deadline = Date.now() + deadlineMs;
  let termAt = -Infinity;
  let killed = false;
  while (await stillRunning()) {
    if (!killed && Date.now() > deadline) {
      onKill();
      signalIfAlive(pid, 'SIGKILL');
      killed = true;
    } else if (!killed && (termAt === -Infinity || (repeatTermMs !== undefined && Date.now() - termAt >= repeatTermMs))) {
      signalIfAlive(pid, 'SIGTERM');
      termAt = Date.now();
    }
    await sleep(50);
  }
};

export const sizeOf = async (file: string): Promise<number> => (await stat(file).catch(() => null))?.size ?? 0;

/** The last `lines` lines of a log from a byte offset (this run's part); with `telling`, only the lines it picks, when there are any. */
export const logSince = async (file: string, fromByte = 0, lines = 20, telling?: (line: string) => boolean): Promise<string> => {
  const all = (await readFile(file).catch(() => Buffer.alloc(0))).subarray(fromByte).toString().trimEnd().split('\n');
  const picked = telling ? all.filter(telling) : [];
  return (picked.length > 0 ? picked : all).slice(-lines).join('\n');
};
