import { ask, askRaw, readClusterNodes } from './nodes.js';
import { HOST, LocalClusterError } from './layout.js';

/**
 * Moves one slot, with its keys, from the master on `fromPort` to the master
 * on `toPort` while clients keep using it — a resharding, as `redis-cli
 * --cluster reshard` does it: the target imports, the source migrates, keys
 * are MIGRATEd in batches (clients meanwhile get ASK or TRYAGAIN), then
 * every master is told the slot's new owner. Resolves with the keys moved.
 */
export const migrateSlot = async (slot: number, fromPort: number, toPort: number): Promise<number> => {
  const nodes = await readClusterNodes(fromPort);
  const from = nodes.find((n) => n.port === fromPort && n.role === 'master');
  const to = nodes.find((n) => n.port === toPort && n.role === 'master');
  if (!from || !to) throw new LocalClusterError(`ports ${fromPort} and ${toPort} must both be masters to move slot ${slot}`);
  await ask(toPort, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id]);
  await ask(fromPort, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id]);
  let moved = 0;
  for (;;) {
    const [listed] = await askRaw(fromPort, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '100']);
    const keys = listed as string[];
    if (keys.length === 0) break;
    await ask(fromPort, ['MIGRATE', HOST, String(toPort), '', '0', '5000', 'KEYS', ...keys]);
    moved += keys.length;
  }
  // The new owner first, then the old, then everyone else (the order redis-cli uses).
  const masters = nodes.filter((n) => n.role === 'master' && !n.failed);
  for (const port of [toPort, fromPort, ...masters.map((n) => n.port).filter((p) => p !== toPort && p !== fromPort)]) {
    await ask(port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id]);
  }
  return moved;
};
