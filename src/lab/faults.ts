/**
 * Network faults of the lab, made without iptables or netem (the machine has
 * neither): links taken down on the switch, and routes inside the hosts.
 *
 * What a TCP client sees, measured here (connect from one lab host to another):
 *   switch-side link down        no answer: times out (EHOSTUNREACH ~3 s
 *                                later once the peer's ARP entry expired)
 *   route `blackhole` /32        EINVAL at once — no real network does that
 *   route `unreachable` /32      EHOSTUNREACH at once — a router's ICMP, not a cut
 *   /32 via an unowned address   EHOSTUNREACH after ~3 s of failed ARP
 *   /32 via an unowned address
 *     with a permanent fake MAC  no answer: times out, like a cable cut
 * A partition is silence (timeouts, retransmissions, a failure detector that
 * must decide), not a quick error, so a cut routes the peer via `.254`, which
 * nobody owns, pinned to a MAC nobody has: frames go out on the bridge and
 * nobody takes them.
 */
import { ipIn } from './ip.js';
import type { LabHost } from './host.js';

/** A locally administered MAC that no lab interface has. */
const NOWHERE_MAC = '02:00:5e:0d:00:fe';
/** The host end of every veth: each host has one interface to the switch. */
export const HOST_IF = 'eth0';

/** Takes the host's link down at the switch: nobody reaches it, it reaches nobody. */
export const linkDown = (switchNs: string, switchPort: string): Promise<string> => ipIn(switchNs, 'link', 'set', switchPort, 'down');

export const linkUp = (switchNs: string, switchPort: string): Promise<string> => ipIn(switchNs, 'link', 'set', switchPort, 'up');

/** Inside `from`: packets for `to` go to nowhere (see above). Idempotent. */
export const routeToNowhere = async (from: LabHost, to: LabHost, nowhere: string): Promise<void> => {
  await ipIn(from.ns, 'neigh', 'replace', nowhere, 'lladdr', NOWHERE_MAC, 'dev', HOST_IF, 'nud', 'permanent');
  await ipIn(from.ns, 'route', 'replace', `${to.address}/32`, 'via', nowhere, 'dev', HOST_IF);
};

/** Inside `from`: packets for `to` take the subnet route again. Idempotent. */
export const routeBack = async (from: LabHost, to: LabHost): Promise<void> => {
  await ipIn(from.ns, 'route', 'del', `${to.address}/32`).catch((error: unknown) => {
    if (!/No such process|not found/i.test(String(error))) throw error;
  });
};
