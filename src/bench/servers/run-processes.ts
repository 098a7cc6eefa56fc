import { FaultError } from '../faults/kinds.js';
import { type FaultTargets, type ProcessRole } from '../faults/targets.js';
import { startSeckillProcess, type SeckillProcess } from './processes.js';
import { serveWorkersOf } from './serve-workers.js';

/**
 * The processes one bench run starts (serve, relay, one or more consume),
 * each by its role and instance with the command line a fault starts it
 * again with, and what the faults may do to them (a fault hits the first
 * instance of its role).
 */
export class RunProcesses {
  private readonly running = new Map<string, { args: string[]; env: NodeJS.ProcessEnv; process: SeckillProcess }>();

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** `env`: this process's own, on top of the run's (a server's clock offset); a restart by a fault gets it again */
  async start(role: ProcessRole, args: string[], instance = 0, env: NodeJS.ProcessEnv = {}): Promise<SeckillProcess> {
    const started = await startSeckillProcess(role, args, { ...this.env, ...env });
    this.running.set(nameOf(role, instance), { args, env, process: started });
    return started;
  }

  /** The pids of every running instance of a role. */
  pidsOf(role: ProcessRole): number[] {
    return [...this.running].filter(([name]) => name.startsWith(`${role}#`)).map(([, r]) => r.process.process.pid!);
  }

  /** Stops every instance of a role (SIGTERM: each finishes what it holds). */
  async stop(role: ProcessRole): Promise<void> {
    const mine = [...this.running].filter(([name]) => name.startsWith(`${role}#`));
    await Promise.all(mine.map(([, r]) => r.process.stop()));
  }

  async stopAll(): Promise<void> {
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.process.stop()));
  }

  /** What faults break and bring back in this run: these processes, and the broker, Redis and MySQL given. */
  faultTargets(others: Pick<FaultTargets, 'kafka' | 'redis' | 'redisCluster' | 'mysqlUrl'>): FaultTargets {
    const first = (role: ProcessRole) => this.running.get(nameOf(role, 0));
    return {
      kill: async (role) => {
        const r = first(role);
        if (!r) throw new FaultError(`no ${role} process is running to kill`);
        const pid = r.process.process.pid!;
        await r.process.stop('SIGKILL');
        return pid;
      },
      start: async (role) => {
        const r = first(role);
        if (!r) throw new FaultError(`no ${role} process was started: nothing to start again`);
        return (await this.start(role, r.args, 0, r.env)).process.pid!;
      },
      pid: (role) => first(role)?.process.process.pid ?? null,
      serveWorkers: () => {
        const r = first('serve');
        if (!r) throw new FaultError('no serve process is running: no workers to stop');
        return serveWorkersOf(r.process);
      },
      ...others,
    };
  }
}

const nameOf = (role: ProcessRole, instance: number) => `${role}#${instance}`;
