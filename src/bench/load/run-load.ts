import { fork } from 'node:child_process';
import type { LoadPlan, LoadResult } from './load-plan.js';

/**
 * Runs a LoadPlan in a separate process (load-process.ts, always the built
 * one in dist/, also when called from the TypeScript sources under vitest) and resolves with
 * its result. A load that overruns its own duration by `graceSec` is killed:
 * load tests stop by themselves.
 */
export interface LoadProgress {
  requests: number;
  seconds: number;
  outcomes: Record<string, number>;
}

export const runLoad = (plan: LoadPlan, onProgress: (p: LoadProgress) => void = () => {}, graceSec = 30): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const child = fork(new URL('../../../dist/bench/load/load-process.js', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), (plan.durationSec + graceSec) * 1000);
    let settled = false;
    child.on('message', (message: { result?: LoadResult; error?: string; progress?: LoadProgress }) => {
      if (message.progress) return onProgress(message.progress);
      settled = true;
      clearTimeout(killer);
      if (message.result) resolve(message.result);
      else reject(new Error(`load generator failed: ${message.error}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      if (!settled) reject(new Error(`load generator exited (${signal ?? code}) without a result`));
    });
    child.send(plan);
  });
