/**
 * The only things the lab does in the root namespace: a blackhole route for
 * the lab range, a lock that keeps labs of parallel runs from racing on it
 * (and on the subnets), and sweeping the leftovers of runs that died.
 *
 * Why the route: a new namespace has no default route, but the root namespace
 * has one. Were a lab subnet ever routed in the root namespace (or a lab
 * address asked from it), its packets would follow that default route off the
 * machine and could be answered by something outside. The blackhole keeps
 * every lab address unreachable from here: a packet for the lab range never
 * leaves the machine.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteNamespace, ip, LabError, listNamespaces } from './ip.js';
import { isAlive, LAB_RANGE, NS_PREFIX, parseNsName, runName, STATE_DIR } from './names.js';

const LOCK_DIR = join(STATE_DIR, 'lock');
const LOCK_DEADLINE_MS = 15_000;

/**
 * Runs `work` holding the machine-wide lab lock (a directory: mkdir is
 * atomic). A lock whose owner died is taken over; one whose owner has not
 * yet written its pid is given a moment.
 */
export const withLabLock = async <T>(work: () => Promise<T>): Promise<T> => {
  await mkdir(STATE_DIR, { recursive: true });
  const deadline = Date.now() + LOCK_DEADLINE_MS;
  let ownerless = 0;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await readFile(join(LOCK_DIR, 'pid'), 'utf8').catch(() => '')).trim());
    ownerless = owner > 0 ? 0 : ownerless + 1;
    if ((owner > 0 && !isAlive(owner)) || ownerless > 40) await rm(LOCK_DIR, { recursive: true, force: true });
    if (Date.now() > deadline) throw new LabError(`the lab lock ${LOCK_DIR} is held by pid ${owner || '?'} for over ${LOCK_DEADLINE_MS / 1000} s`);
    await sleep(50);
  }
  try {
    await writeFile(join(LOCK_DIR, 'pid'), String(process.pid));
    return await work();
  } finally {
    await rm(LOCK_DIR, { recursive: true, force: true });
  }
};

const hasBlackhole = async (): Promise<boolean> => (await ip('route', 'show', 'type', 'blackhole', LAB_RANGE)).trim() !== '';

/** Adds the blackhole route for the lab range, unless it is there. Under the lock. */
export const ensureBlackhole = async (): Promise<void> => {
  if (!(await hasBlackhole())) await ip('route', 'add', 'blackhole', LAB_RANGE);
};

/** Removes the blackhole route once no lab namespace is left on the machine. Under the lock. */
export const dropBlackholeIfLast = async (): Promise<void> => {
  const labsLeft = (await listNamespaces()).some((ns) => ns.startsWith(NS_PREFIX));
  if (!labsLeft && (await hasBlackhole())) await ip('route', 'del', 'blackhole', LAB_RANGE);
};

/** Whether the root namespace holds the lab's blackhole route now (for tests and doctors). */
export const blackholePresent = hasBlackhole;

/** Deletes the namespaces of labs whose owner process is dead. Under the lock. Returns the runs removed. */
export const sweepDeadRuns = async (): Promise<string[]> => {
  const dead = (await listNamespaces()).filter((ns) => {
    const run = parseNsName(ns);
    return run !== null && !isAlive(run.ownerPid);
  });
  await Promise.all(dead.map(deleteNamespace));
  return [...new Set(dead.map((ns) => runName(parseNsName(ns)!)))];
};

/**
 * Removes what dead runs left (their namespaces, the processes in them, and
 * the route once no lab remains). Safe beside live labs: only runs whose
 * owner is dead are touched.
 */
export const sweepStaleLabs = (): Promise<string[]> =>
  withLabLock(async () => {
    const removed = await sweepDeadRuns();
    await dropBlackholeIfLast();
    return removed;
  });
