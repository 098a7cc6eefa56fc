/**
 * What one KRaft node of the local cluster is (its id, address, ports, how it
 * is launched, its dir) and the server.properties written for it on every
 * start. Every node is broker and controller at once (combined mode); the
 * controllers form one static quorum of all nodes.
 */
import { readFile } from 'node:fs/promises';

export interface NodeSpec {
  /** node.id, 1… */
  id: number;
  /** the address the node listens on and advertises (clients, the other nodes) */
  host: string;
  /** client port (PLAINTEXT listener) */
  port: number;
  /** the controller listener's port */
  controllerPort: number;
  /** argv prefix the JVM is started through (e.g. ip netns exec <ns>); empty: started directly */
  launcher: string[];
  /** the node's own dir: config, data, pid, logs */
  dir: string;
}

/** Internal topics' replication: as many copies as there are nodes, up to 3; two must hold a write once there are 3. */
export const replicationFor = (nodes: number) => ({ factor: Math.min(3, nodes), minInsync: nodes >= 3 ? 2 : 1 });

export const serverProperties = (node: NodeSpec, all: NodeSpec[], data: string): string => {
  const { factor, minInsync } = replicationFor(all.length);
  return [
    '# Written by seckill kafka start on every start; edits are overwritten.',
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    // A static quorum of every node: the format needs no --standalone and the
    // addresses can change between runs without reformatting (a dynamic
    // quorum records the controller endpoints in the log at format time).
    `controller.quorum.voters=${all.map((n) => `${n.id}@${n.host}:${n.controllerPort}`).join(',')}`,
    `listeners=PLAINTEXT://${node.host}:${node.port},CONTROLLER://${node.host}:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${node.host}:${node.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${data}`,
    'num.partitions=6',
    'auto.create.topics.enable=true',
    `default.replication.factor=${factor}`,
    `min.insync.replicas=${minInsync}`,
    // A replica that was not in sync never becomes leader: that would drop acknowledged writes.
    'unclean.leader.election.enable=false',
    // Internal topics cannot have more replicas than there are nodes.
    `offsets.topic.replication.factor=${factor}`,
    `transaction.state.log.replication.factor=${factor}`,
    `transaction.state.log.min.isr=${minInsync}`,
    // Nobody else will join the group; do not make the first consumer wait 3 s.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
};

/** The client port a node's config names (what status reads of a single node started before cluster.json existed). */
export const portFromConfig = async (config: string): Promise<number | null> => {
  const text = await readFile(config, 'utf8').catch(() => '');
  const match = /^listeners=PLAINTEXT:\/\/[^:]+:(\d+)/m.exec(text);
  return match ? Number(match[1]) : null;
};
