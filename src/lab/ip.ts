/**
 * Running iproute2 for the lab: every change the lab makes to the machine's
 * networking goes through here, so a failure names the command and what ip
 * said, and nothing else in src/lab/ spawns `ip` by itself.
 */
import { execFile } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class LabError extends Error {
  readonly code = 'LAB';
  /** the output of the command that failed, when one did (a command that exits non-zero may still have said something useful) */
  constructor(
    message: string,
    readonly output?: RunResult,
  ) {
    super(message);
  }
}

/** Runs a command to completion; rejects with a LabError that carries its output (not printed to the terminal). */
export const runCommand = (argv: string[], { timeoutMs = 10_000, env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> =>
  new Promise((done, fail) => {
    const [cmd, ...args] = argv;
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return done({ stdout, stderr });
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} not found on PATH` : `${`${stderr}${stdout}`.trim() || error.message}`;
      fail(new LabError(`${argv.join(' ')} failed: ${why}`, { stdout, stderr }));
    });
  });

/** `ip ARGS…`; stdout. */
export const ip = async (...args: string[]): Promise<string> => (await runCommand(['ip', ...args])).stdout;

/** `ip -n NS ARGS…`: the same inside one namespace. */
export const ipIn = (ns: string, ...args: string[]): Promise<string> => ip('-n', ns, ...args);

/** The names of the machine's named network namespaces (`ip netns list` prints "name (id: N)" lines). */
export const listNamespaces = async (): Promise<string[]> =>
  (await ip('netns', 'list'))
    .split('\n')
    .map((line) => line.trim().split(' ')[0])
    .filter((name) => name !== '');

/**
 * Deletes a namespace and first kills what still runs in it: `ip netns del`
 * only unmounts the name, and a process inside (a daemonized redis-server)
 * would keep the namespace, its veth and its sockets alive, unseen.
 */
export const deleteNamespace = async (ns: string): Promise<void> => {
  const pids = (await ip('netns', 'pids', ns).catch(() => ''))
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await ip('netns', 'del', ns).catch((error: unknown) => {
    // Deleted by someone else (a sweep) in the meantime is fine.
    if (!/No such file|not found|Cannot remove/i.test(String(error))) throw error;
  });
};
