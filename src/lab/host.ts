/**
 * A host of the lab: a network namespace with one address, and how to run a
 * process in it. Every lab process is started through `argv`, so none runs in
 * the root namespace (which cannot reach lab addresses anyway: the blackhole).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { runCommand, type RunResult } from './ip.js';

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface LabHost {
  /** The name the lab was given it under (`redis1`, `client`). */
  readonly name: string;
  /** Its network namespace. */
  readonly ns: string;
  /** Its one address in the lab subnet; every service it runs binds this. */
  readonly address: string;
  /**
   * The command line that runs `cmd` in this host. `ip netns exec` execs the
   * command, so a spawned child's pid is the process's own (signals, pid files
   * and src/local-process.ts work on it as on a local process).
   */
  argv(cmd: string[]): string[];
  /** Runs `cmd` in this host to completion; rejects with its output when it fails or outlives the timeout. */
  exec(cmd: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts `cmd` in this host, as child_process.spawn would. */
  spawn(cmd: string[], opts?: SpawnOptions): ChildProcess;
  /**
   * Runs a Node ES module in this host and resolves with its stdout: a client
   * or a judge that must talk to lab addresses. `code` is evaluated with the
   * current directory as its base, so it can import the project's
   * dependencies (ioredis, …); `file` runs a script. `args` are
   * process.argv.slice(1) for `code`, process.argv.slice(2) for `file`.
   */
  runNode(script: { code: string } | { file: string }, args?: string[], opts?: RunOptions): Promise<string>;
}

export const makeHost = (name: string, ns: string, address: string): LabHost => {
  const argv = (cmd: string[]): string[] => ['ip', 'netns', 'exec', ns, ...cmd];
  return {
    name,
    ns,
    address,
    argv,
    exec: (cmd, opts) => runCommand(argv(cmd), opts),
    spawn: (cmd, opts = {}) => {
      const [first, ...rest] = argv(cmd);
      return spawn(first, rest, opts);
    },
    runNode: async (script, args = [], opts) => {
      const node = 'code' in script ? [process.execPath, '--input-type=module', '-e', script.code, '--'] : [process.execPath, script.file];
      return (await runCommand(argv([...node, ...args]), { timeoutMs: 20_000, ...opts })).stdout;
    },
  };
};
