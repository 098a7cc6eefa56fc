import { FaultError, type FaultTargets, type ProcessRole } from './faults.js';
import { startSeckillProcess, type SeckillProcess } from './processes.js';

/**
 * The processes one bench run starts (serve, relay, consume), each by its
 * role with the command line a fault starts it again with, and what the
 * faults may do to them.
 */
export class RunProcesses {
  private readonly running = new Map<ProcessRole, { args: string[]; process: SeckillProcess }>();

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  async start(role: ProcessRole, args: string[]): Promise<SeckillProcess> {
    const started = await startSeckillProcess(role, args, this.env);
    this.running.set(role, { args, process: started });
    return started;
  }

  /** Stops one (SIGTERM: it finishes what it holds); nothing when it is not running. */
  async stop(role: ProcessRole): Promise<void> {
    await this.running.get(role)?.process.stop();
  }

  async stopAll(): Promise<void> {
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.process.stop()));
  }

  /** What faults break and bring back in this run: these processes, and the broker, Redis and MySQL given. */
  faultTargets(others: Pick<FaultTargets, 'kafka' | 'redis' | 'mysqlUrl'>): FaultTargets {
    return {
      kill: async (role) => {
        const r = this.running.get(role);
        if (!r) throw new FaultError(`no ${role} process is running to kill`);
        const pid = r.process.process.pid!;
        await r.process.stop('SIGKILL');
        return pid;
      },
      start: async (role) => {
        const r = this.running.get(role);
        if (!r) throw new FaultError(`no ${role} process was started: nothing to start again`);
        return (await this.start(role, r.args)).process.pid!;
      },
      pid: (role) => this.running.get(role)?.process.process.pid ?? null,
      ...others,
    };
  }
}
