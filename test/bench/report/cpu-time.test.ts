import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { cpuMicrosOf, pidsNamed, processTree } from '../../../src/bench/report/cpu-time.js';

/** The kernel's account bench reads each process's CPU from (bench's "CPU µs per answer" rows). */
describe('the CPU of a process, from /proc', () => {
  it('grows by the CPU the process burnt (user time, all threads), and is null for a process that is gone', async () => {
    const before = (await cpuMicrosOf(process.pid))!;
    const own = process.cpuUsage();
    // Mostly user time: the clock is read (a system call) once every 100,000 steps.
    let sum = 0;
    for (const end = process.cpuUsage().user + 200_000; process.cpuUsage().user < end;) for (let i = 0; i < 100_000; i++) sum += Math.sqrt(i);
    expect(sum).toBeGreaterThan(0);
    const burnt = process.cpuUsage(own);
    const after = (await cpuMicrosOf(process.pid))!;
    // The kernel counts in clock ticks (10 ms): the same 0.2 s of CPU, give or take a few ticks.
    expect(after - before).toBeGreaterThan(burnt.user * 0.8);
    expect(after - before).toBeLessThan((burnt.user + burnt.system) * 1.5 + 50_000);
    expect(await cpuMicrosOf(2 ** 22 + 1)).toBeNull();
  });

  it("finds a process's children and, by name, a process it did not start", async () => {
    const shell = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    try {
      await once(shell, 'spawn');
      let tree: number[] = [];
      for (let i = 0; i < 100 && tree.length < 2; i++) {
        tree = await processTree(shell.pid!);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(tree[0]).toBe(shell.pid);
      expect(tree).toHaveLength(2);
      expect(await pidsNamed(['sleep'])).toContain(tree[1]);
    } finally {
      // sh's child would outlive it: end both.
      for (const pid of (await processTree(shell.pid!)).reverse()) process.kill(pid, 'SIGKILL');
    }
  });
});
