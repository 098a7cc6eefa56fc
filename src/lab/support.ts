/**
 * Whether this machine can make a lab: root, iproute2, and a namespace with a
 * bridge and a veth in it. Tests skip with the reason rather than fail on a
 * machine that cannot.
 */
import { ip, ipIn } from './ip.js';

export type LabSupport = { ok: true } | { ok: false; reason: string };

let checked: Promise<LabSupport> | null = null;

const check = async (): Promise<LabSupport> => {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the lab needs root (ip netns add)' };
  try {
    await ip('-V');
  } catch (error) {
    return { ok: false, reason: `iproute2 is needed: ${String(error)}` };
  }
  // Not the lab's sk- prefix: a sweep must never mistake the probe for a lab, nor the probe count as one.
  const probe = `skprobe-${process.pid}`;
  try {
    await ip('netns', 'add', probe);
    await ipIn(probe, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(probe, 'link', 'add', 'name', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    await ipIn(probe, 'link', 'set', 'va', 'master', 'br0');
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: `cannot make a namespace with a bridge and a veth: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await ip('netns', 'del', probe).catch(() => '');
  }
};

/** Checked once per process. */
export const labSupported = (): Promise<LabSupport> => (checked ??= check());
