import { execFileSync, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blackholePresent, createLab, LAB_RANGE, NS_PREFIX, sweepStaleLabs, type Lab } from '../../src/lab/index.js';
import { connectFrom, greeter, seen, skipReason, support, UNANSWERED } from './lab-helpers.js';

/**
 * The lab's network on real namespaces: hosts reach each other through the
 * switch, a partitioned host is unreachable (never answered by anyone), a
 * partial cut separates two hosts that both still reach a third, and the
 * lab leaves nothing behind.
 */
const PORT = 7070;
const namespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);

describe.skipIf(!support.ok)(`a lab of three hosts on a switch${skipReason}`, () => {
  let lab: Lab;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    lab = await createLab({ name: 'network-test', hosts: ['a', 'b', 'c'] });
    for (const h of lab.hosts) servers.push(await greeter(h, PORT, `hello from ${h.name} of ${lab.runId}`));
  }, 30_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await lab?.destroy();
  }, 30_000);

  it('has hosts that reach each other by their addresses, and is unreachable from the root namespace, which blackholes the lab range', async () => {
    const [a, b] = lab.hosts;
    expect(await connectFrom(a, b, PORT)).toMatchObject({ outcome: 'answered', greeting: `hello from b of ${lab.runId}` });
    expect(await connectFrom(b, a, PORT)).toMatchObject({ outcome: 'answered', greeting: `hello from a of ${lab.runId}` });
    expect(await blackholePresent()).toBe(true);
    // From the root namespace a lab address meets the blackhole: refused on the spot (EINVAL), no packet sent.
    const fromRoot = await new Promise<string>((done) => {
      const socket = connect(PORT, b.address);
      socket.once('connect', () => done('connected'));
      socket.once('error', (error: NodeJS.ErrnoException) => done(`error:${error.code}`));
      socket.setTimeout(1_500, () => done('timeout'));
    });
    expect(fromRoot).toBe('error:EINVAL');
  });

  it('makes a partitioned host unreachable — not answered, by it or anything else — and a healed one answer again', async () => {
    const [a, b] = lab.hosts;
    await lab.partition('b');
    try {
      // Twice: the first finds a's ARP entry for b still fresh (silence), the second may find it failed (no route).
      const tries = await Promise.all([connectFrom(a, b, PORT), connectFrom(b, a, PORT)]);
      tries.push(await connectFrom(a, b, PORT));
      for (const t of tries) expect(UNANSWERED).toContain(seen(t));
    } finally {
      await lab.heal('b');
    }
    expect(await connectFrom(a, b, PORT, 5_000)).toMatchObject({ outcome: 'answered', greeting: `hello from b of ${lab.runId}` });
  });

  it('cuts a from b both ways while both still reach c, and uncut restores a–b', async () => {
    const [a, b, c] = lab.hosts;
    await lab.cut('a', 'b');
    try {
      // A cut is silence, like a real partition (see src/lab/faults.ts), not a quick error.
      const [ab, ba, ac, bc, ca, cb] = await Promise.all(
        [
          [a, b],
          [b, a],
          [a, c],
          [b, c],
          [c, a],
          [c, b],
        ].map(([from, to]) => connectFrom(from, to, PORT)),
      );
      expect([ab, ba].map(seen)).toEqual(['timeout', 'timeout']);
      expect([ac, bc].map((s) => s.greeting)).toEqual([`hello from c of ${lab.runId}`, `hello from c of ${lab.runId}`]);
      expect([ca.greeting, cb.greeting]).toEqual([`hello from a of ${lab.runId}`, `hello from b of ${lab.runId}`]);
    } finally {
      await lab.uncut('a', 'b');
    }
    expect(await connectFrom(a, b, PORT)).toMatchObject({ outcome: 'answered', greeting: `hello from b of ${lab.runId}` });
    expect(await connectFrom(b, a, PORT)).toMatchObject({ outcome: 'answered', greeting: `hello from a of ${lab.runId}` });
  });
});

describe.skipIf(!support.ok)(`a lab destroyed${skipReason}`, () => {
  it('leaves no namespace of its run, no process of its hosts, and no blackhole route once it was the last lab', async () => {
    const lab = await createLab({ name: 'destroy-test', hosts: ['x', 'y'] });
    const prefix = `${NS_PREFIX}${lab.runId}-`;
    const server = await greeter(lab.host('x'), PORT, 'bye');
    expect(
      namespaces()
        .filter((ns) => ns.startsWith(prefix))
        .sort(),
    ).toEqual([`${prefix}switch`, `${prefix}x`, `${prefix}y`]);
    expect(await blackholePresent()).toBe(true);

    await lab.destroy();
    expect(namespaces().filter((ns) => ns.startsWith(prefix))).toEqual([]);
    // The greeter was killed with its namespace, not left running outside any name.
    await new Promise((r) => (server.exitCode === null && server.signalCode === null ? server.once('exit', r) : r(null)));
    expect(server.signalCode).toBe('SIGKILL');
    // Another run's lab (a parallel test run) keeps the route; only the last one removes it.
    const otherLabs = namespaces().some((ns) => ns.startsWith(NS_PREFIX));
    if (!otherLabs) expect(execFileSync('ip', ['route', 'show', 'type', 'blackhole', LAB_RANGE], { encoding: 'utf8' }).trim()).toBe('');
    await lab.destroy(); // twice is fine
  });

  it('is swept when its owner died without destroying it (a killed test run), and a live lab is left alone', async () => {
    const live = await createLab({ name: 'sweep-test', hosts: ['z'] });
    try {
      // A dead owner: a process that has exited. Its lab is made by hand, as a SIGKILLed run would leave it.
      const deadPid = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
      const stale = `${NS_PREFIX}251p${deadPid}-ghost`;
      execFileSync('ip', ['netns', 'add', stale]);
      expect(await sweepStaleLabs()).toContain(`251p${deadPid}`);
      expect(namespaces()).not.toContain(stale);
      expect(namespaces()).toContain(live.host('z').ns);
      expect(await blackholePresent()).toBe(true);
    } finally {
      await live.destroy();
    }
  });
});
