import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/**
 * The kernel's account of the CPU a process spent (Linux /proc/<pid>/stat:
 * user + system time of all its threads), for processes bench did not write
 * the code of or cannot ask (a MySQL server) as much as for its own: nothing
 * the measured process does can skew it, and it costs the process nothing.
 */

/** Clock ticks a second in /proc's times (almost always 100); read once. */
let ticksPerSecond: number | null = null;
const clockTicks = (): number => (ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100);

/** µs of CPU the process spent so far; null when it is gone (or this is not Linux). */
export const cpuMicrosOf = async (pid: number): Promise<number | null> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // The command name, field 2, is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
  return ((Number(fields[11]) + Number(fields[12])) / clockTicks()) * 1e6;
};

/** The process and every process below it (serve's workers), by the kernel's list of each one's children. */
export const processTree = async (pid: number): Promise<number[]> => {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const children = text.split(' ').filter(Boolean).map(Number);
  return [pid, ...(await Promise.all(children.map(processTree))).flat()];
};

const commandOf = (pid: string): Promise<string> =>
  readFile(`/proc/${pid}/comm`, 'utf8').then(
    (text) => text.trim(),
    () => '',
  );

/** The pids of the processes on this machine whose command is one of `names` (a local mariadbd), by /proc/<pid>/comm. */
export const pidsNamed = async (names: string[]): Promise<number[]> => {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((entry) => /^\d+$/.test(entry));
  const named = await Promise.all(pids.map(async (pid) => (names.includes(await commandOf(pid)) ? Number(pid) : null)));
  return named.filter((pid): pid is number => pid !== null);
};
