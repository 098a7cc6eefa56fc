/**
 * A lab of hosts on one machine: a network namespace per host, a bridge in a
 * namespace of its own (the switch), a veth per host between them, one /24
 * of the lab range per lab. Faults are made on it (faults.ts) and undone;
 * `destroy` removes all of it, the processes in it included.
 *
 *   host ns "sk-17p4242-redis1"         switch ns "sk-17p4242-switch"
 *     lo, eth0 10.213.17.10/24  <-veth->  p0 ─┐
 *   host ns "sk-17p4242-redis2"               ├─ br0
 *     lo, eth0 10.213.17.11/24  <-veth->  p1 ─┘
 *
 * Nothing is added to the root namespace but the blackhole route for the lab
 * range (root-namespace.ts), so no lab packet can leave the machine.
 */
import { randomInt } from 'node:crypto';
import { makeHost, type LabHost } from './host.js';
import { HOST_IF, linkDown, linkUp, routeBack, routeToNowhere } from './faults.js';
import { deleteNamespace, ip, ipIn, LabError, listNamespaces } from './ip.js';
import { checkHostName, hostAddress, nowhereAddress, nsName, OCTETS, parseNsName, runName, subnetOf, SWITCH_ROLE, type RunId } from './names.js';
import { dropBlackholeIfLast, ensureBlackhole, sweepDeadRuns, withLabLock } from './root-namespace.js';

export type { LabHost } from './host.js';

export interface LabOptions {
  /** What the lab is for, shown in errors (`redis-failover`). */
  name: string;
  /** Host names: a-z, 0-9, -; each gets a namespace and an address, in this order (.10, .11, …). */
  hosts: string[];
}

export interface Lab {
  readonly name: string;
  /** `<octet>p<pid>`: every namespace of the lab starts with `sk-<runId>-`. */
  readonly runId: string;
  /** The lab's /24. */
  readonly subnet: string;
  readonly hosts: readonly LabHost[];
  /** The host of that name; throws on a name the lab was not made with. */
  host(name: string): LabHost;
  /** Cuts the host from all: its link down at the switch. */
  partition(host: string): Promise<void>;
  /** Its link up again. */
  heal(host: string): Promise<void>;
  /** Cuts `a` and `b` from each other, both ways, while each still reaches every other host. */
  cut(a: string, b: string): Promise<void>;
  uncut(a: string, b: string): Promise<void>;
  /** Removes the namespaces (killing what runs in them), the bridge, and the route when this was the last lab. Twice is fine. */
  destroy(): Promise<void>;
}

/** Picks a /24 no live lab holds, at random so that a stale lab's subnet is not reused at once. Under the lock. */
const freeOctet = async (): Promise<number> => {
  const taken = new Set((await listNamespaces()).flatMap((ns) => parseNsName(ns)?.octet ?? []));
  const free = Array.from({ length: OCTETS.max - OCTETS.min + 1 }, (_, i) => OCTETS.min + i).filter((o) => !taken.has(o));
  if (free.length === 0) throw new LabError(`all ${OCTETS.max} lab subnets are taken by live labs`);
  return free[randomInt(free.length)];
};

/** Switch-side veth names (interface names are at most 15 characters; host names may be longer). */
const switchPort = (index: number): string => `p${index}`;

const build = async (run: RunId, hostNames: string[]): Promise<void> => {
  const switchNs = nsName(run, SWITCH_ROLE);
  await ip('netns', 'add', switchNs);
  await ipIn(switchNs, 'link', 'set', 'lo', 'up');
  await ipIn(switchNs, 'link', 'add', 'br0', 'type', 'bridge');
  await ipIn(switchNs, 'link', 'set', 'br0', 'up');
  for (const [index, name] of hostNames.entries()) {
    const ns = nsName(run, name);
    await ip('netns', 'add', ns);
    await ipIn(ns, 'link', 'set', 'lo', 'up');
    // Made directly in the two namespaces: no interface of the lab ever exists in the root namespace, even for a moment.
    await ip('link', 'add', 'name', HOST_IF, 'netns', ns, 'type', 'veth', 'peer', 'name', switchPort(index), 'netns', switchNs);
    await ipIn(switchNs, 'link', 'set', switchPort(index), 'master', 'br0', 'up');
    await ipIn(ns, 'addr', 'add', `${hostAddress(run.octet, index)}/24`, 'dev', HOST_IF);
    await ipIn(ns, 'link', 'set', HOST_IF, 'up');
  }
};

const removeRun = async (run: RunId): Promise<void> => {
  const prefix = nsName(run, '');
  await Promise.all((await listNamespaces()).filter((ns) => ns.startsWith(prefix)).map(deleteNamespace));
};

/**
 * Makes the lab: sweeps dead runs, adds the blackhole route, then the switch
 * and the hosts. A lab made half-way is removed before the error is thrown.
 * The caller destroys it (in afterAll, so also when a test fails).
 */
export const createLab = async ({ name, hosts: hostNames }: LabOptions): Promise<Lab> => {
  const bad = hostNames.map(checkHostName).find((why) => why !== null);
  if (bad) throw new LabError(`lab ${name}: ${bad}`);
  if (new Set(hostNames).size !== hostNames.length) throw new LabError(`lab ${name}: host names must differ`);
  if (hostNames.length > 240) throw new LabError(`lab ${name}: at most 240 hosts`);

  const run = await withLabLock(async (): Promise<RunId> => {
    await sweepDeadRuns();
    const chosen = { octet: await freeOctet(), ownerPid: process.pid };
    // The route first: from here on no packet for the range can leave the machine.
    await ensureBlackhole();
    try {
      await build(chosen, hostNames);
    } catch (error) {
      await removeRun(chosen);
      await dropBlackholeIfLast();
      throw new LabError(`lab ${name}: could not be made: ${error instanceof Error ? error.message : String(error)}`);
    }
    return chosen;
  });

  const switchNs = nsName(run, SWITCH_ROLE);
  const hosts = hostNames.map((host, index) => makeHost(host, nsName(run, host), hostAddress(run.octet, index)));
  const host = (hostName: string): LabHost => {
    const found = hosts.find((h) => h.name === hostName);
    if (!found) throw new LabError(`lab ${name} has no host ${JSON.stringify(hostName)} (hosts: ${hostNames.join(', ')})`);
    return found;
  };
  const portOf = (hostName: string): string => switchPort(hosts.indexOf(host(hostName)));
  const nowhere = nowhereAddress(run.octet);
  let destroyed = false;

  return {
    name,
    runId: runName(run),
    subnet: subnetOf(run.octet),
    hosts,
    host,
    partition: async (h) => void (await linkDown(switchNs, portOf(h))),
    heal: async (h) => void (await linkUp(switchNs, portOf(h))),
    cut: async (a, b) => {
      await routeToNowhere(host(a), host(b), nowhere);
      await routeToNowhere(host(b), host(a), nowhere);
    },
    uncut: async (a, b) => {
      await routeBack(host(a), host(b));
      await routeBack(host(b), host(a));
    },
    destroy: async () => {
      if (destroyed) return;
      await withLabLock(async () => {
        await removeRun(run);
        await dropBlackholeIfLast();
      });
      destroyed = true;
    },
  };
};
