/**
 * What a lab is called on the machine, so that parallel and stale runs never
 * clash: every namespace of a run is `sk-<run>-<role>`, the run being
 * `<subnet octet>p<owner pid>` — the /24 it holds and the process that made
 * it. A lab whose owner is dead is a leftover and may be swept by anyone.
 */

/** The whole lab range: one /24 per lab run out of it. The root namespace holds a blackhole route for all of it while any lab exists. */
export const LAB_RANGE = '10.213.0.0/16';
const RANGE_PREFIX = '10.213';
export const NS_PREFIX = 'sk-';
/** The namespace of the bridge; host names may not take it. */
export const SWITCH_ROLE = 'switch';

/** Where labs keep their lock (a tmpfs, emptied on reboot with the namespaces). */
export const STATE_DIR = '/run/seckill-lab';

export interface RunId {
  octet: number;
  ownerPid: number;
}

export const runName = ({ octet, ownerPid }: RunId): string => `${octet}p${ownerPid}`;

export const nsName = (run: RunId, role: string): string => `${NS_PREFIX}${runName(run)}-${role}`;

/** The run a namespace belongs to, or null when it is not a lab's. */
export const parseNsName = (ns: string): (RunId & { role: string }) | null => {
  const m = /^sk-(\d{1,3})p(\d+)-([a-z0-9-]+)$/.exec(ns);
  return m ? { octet: Number(m[1]), ownerPid: Number(m[2]), role: m[3] } : null;
};

export const subnetOf = (octet: number): string => `${RANGE_PREFIX}.${octet}.0/24`;

/** Hosts get .10, .11, …: below 10 and .254 stay unowned (see faults.ts: .254 is the address cut peers are routed to). */
export const hostAddress = (octet: number, index: number): string => `${RANGE_PREFIX}.${octet}.${10 + index}`;

/** Owned by nobody: packets routed "via" it reach no host (see faults.ts). */
export const nowhereAddress = (octet: number): string => `${RANGE_PREFIX}.${octet}.254`;

/** Octets a lab may take: 1–250, one lab each. */
export const OCTETS = { min: 1, max: 250 };

/** Host names make namespace and file names: short, lower-case, no clash with the switch. */
export const checkHostName = (name: string): string | null =>
  !/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)
    ? `host name ${JSON.stringify(name)}: use a-z, 0-9 and -, up to 31 characters`
    : name === SWITCH_ROLE
      ? `host name "${SWITCH_ROLE}" is the lab's bridge`
      : null;

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};
