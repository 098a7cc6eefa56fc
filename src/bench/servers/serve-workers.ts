import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultError } from '../faults/kinds.js';
import { type ServeWorkers } from '../faults/targets.js';
import type { SeckillProcess } from './processes.js';

/** How long a worker may take to exit on its signal, and its replacement to listen (it may wait for a store, see --wait). */
const REPLACE_DEADLINE_MS = 120_000;

/** serve's primary says so once a worker that replaced another listens (gateway/workers.ts). */
const LISTENING = /worker (\d+) listening/g;

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The workers of one `serve --workers` process bench started: their pids are
 * its primary's children (Linux: /proc/<pid>/task/<pid>/children — the
 * primary forks nothing else), and a replacement is known to listen by the
 * primary's log line "worker <pid> listening".
 */
export const serveWorkersOf = (primary: SeckillProcess): ServeWorkers => {
  const primaryPid = primary.process.pid!;
  const pids = async (): Promise<number[]> => {
    const text = await readFile(`/proc/${primaryPid}/task/${primaryPid}/children`, 'utf8').catch(() => {
      throw new FaultError(
        `cannot list the workers of serve (pid ${primaryPid}): /proc/${primaryPid}/task/${primaryPid}/children is not readable (Linux only)`,
      );
    });
    return text.split(' ').filter(Boolean).map(Number);
  };

  const replace = async (pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<number> => {
    const logFrom = primary.stderr().length;
    process.kill(pid, signal);
    const deadline = Date.now() + REPLACE_DEADLINE_MS;
    for (;;) {
      const replacement = [...primary.stderr().slice(logFrom).matchAll(LISTENING)].map((m) => Number(m[1])).find((p) => p !== pid);
      if (replacement !== undefined && !isAlive(pid)) return replacement;
      if (primary.process.exitCode !== null || primary.process.signalCode !== null)
        throw new FaultError(`serve (pid ${primaryPid}) exited while worker ${pid} was being replaced`);
      if (Date.now() > deadline) {
        throw new FaultError(
          `worker ${pid} was not replaced by a listening worker within ${REPLACE_DEADLINE_MS / 1000} s of its ${signal}: ${primary.stderr().slice(logFrom).trim().split('\n').slice(-3).join(' | ')}`,
        );
      }
      await sleep(50);
    }
  };

  return { pids, replace };
};
