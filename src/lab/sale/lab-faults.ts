/**
 * The faults a lab sale can be struck with. Each strikes, and resolves with
 * how to heal it; healing waits until the part struck is whole again (the
 * Redis nodes agree, MySQL answers), so the next step finds a whole system.
 */
import calculateSlot from 'cluster-key-slot';
import { readClusterNodes, signalNode, waitForAgreement, type ClusterNode } from '../../redis/local-cluster.js';
import { skuKeys } from '../../redis/keys.js';
import { labScript, SALE_HOSTS, type LabSale } from './lab-sale.js';

export type Heal = () => Promise<void>;

export interface LabFault {
  name: string;
  /** what it does, for --help and the report */
  about: string;
  strike(sale: LabSale, sku: string): Promise<Heal>;
}

/** The lab host of the master that serves the SKU's stock key now. */
const masterOf = async (sale: LabSale, sku: string): Promise<{ host: string; port: number }> => {
  const slot = calculateSlot(skuKeys(sku).stock);
  const nodes: ClusterNode[] = await readClusterNodes(sale.redis.nodes[0].target);
  const master = nodes.find((n) => n.role === 'master' && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to));
  if (!master) throw new Error(`no live master serves slot ${slot} of ${sku}`);
  const node = sale.redis.nodes.find((n) => n.port === master.port)!;
  return { host: node.host.name, port: node.port };
};

/** The lab host of the broker leading the SKU's partition of the orders topic now. */
export const kafkaLeaderOf = async (sale: LabSale, sku: string): Promise<string> => {
  const leader = JSON.parse(
    await sale.lab.host(SALE_HOSTS.pipeline).runNode({ file: labScript('kafka-leader-main.js') }, [sku], { env: { ...process.env, ...sale.env } }),
  ) as { host: string };
  const host = SALE_HOSTS.kafka.find((h) => sale.lab.host(h).address === leader.host);
  if (!host) throw new Error(`the leader of ${sku}'s partition, ${leader.host}, is no broker of the lab`);
  return host;
};

/** Cuts `host` from each of `others` (both ways); the heal puts the routes back. */
const cutFrom = async (sale: LabSale, host: string, others: readonly string[]): Promise<Heal> => {
  for (const other of others) await sale.lab.cut(host, other);
  return async () => {
    for (const other of others) await sale.lab.uncut(host, other);
  };
};

const redisHeals =
  (sale: LabSale, heal: Heal): Heal =>
  async () => {
    await heal();
    await waitForAgreement(sale.redis.dir);
  };

export const LAB_FAULTS: LabFault[] = [
  {
    name: 'master-partition',
    about:
      "the master holding the SKU cut from its replica and the other Redis nodes, while gateways and relay still reach it (the replica is promoted; the old master's writes after the cut are lost when it rejoins)",
    strike: async (sale, sku) => {
      const master = await masterOf(sale, sku);
      return redisHeals(
        sale,
        await cutFrom(
          sale,
          master.host,
          SALE_HOSTS.redis.filter((h) => h !== master.host),
        ),
      );
    },
  },
  {
    name: 'master-pause',
    about: 'the master holding the SKU paused (SIGSTOP) long enough for its replica to be promoted, then continued',
    strike: async (sale, sku) => {
      const master = await masterOf(sale, sku);
      await signalNode(sale.redis.dir, master.port, 'SIGSTOP');
      return redisHeals(sale, async () => void (await signalNode(sale.redis.dir, master.port, 'SIGCONT')));
    },
  },
  {
    name: 'gateway-cut-from-redis',
    about: 'one gateway cut from every Redis node (it answers 503; buyers retry at the other)',
    strike: (sale) => cutFrom(sale, SALE_HOSTS.gateways[0], SALE_HOSTS.redis),
  },
  {
    name: 'gateway-crash',
    about: 'gw1 killed (SIGKILL) mid-sale and started again when the fault heals: the admission tickets it held come back when their lease ends',
    strike: async (sale) => {
      await sale.gateways[0].stop('SIGKILL');
      return () => sale.restartGateway(0, 'SIGKILL');
    },
  },
  {
    name: 'kafka-leader-partition',
    about: "the Kafka broker leading the SKU's partition of the orders topic partitioned from all (another in-sync replica takes over)",
    strike: async (sale, sku) => {
      const host = await kafkaLeaderOf(sale, sku);
      await sale.lab.partition(host);
      return async () => void (await sale.lab.heal(host));
    },
  },
  {
    name: 'consumers-cut-from-mysql',
    about: 'the pipeline host (relay and consumers) cut from MySQL',
    strike: (sale) => cutFrom(sale, SALE_HOSTS.pipeline, [SALE_HOSTS.mysql]),
  },
  {
    name: 'mysql-restart',
    about: 'MySQL stopped mid-sale and started again',
    strike: async (sale) => {
      await sale.mysql.stop();
      return async () => void (await sale.mysql.start());
    },
  },
];

export const labFault = (name: string): LabFault => {
  const fault = LAB_FAULTS.find((f) => f.name === name);
  if (!fault) throw new Error(`unknown lab fault ${JSON.stringify(name)} (faults: ${LAB_FAULTS.map((f) => f.name).join(', ')})`);
  return fault;
};
