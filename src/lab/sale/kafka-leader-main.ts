/** `node kafka-leader-main.js <sku>`: prints the broker leading the SKU's partition of the orders topic as JSON (run in a lab host, KAFKA_BROKERS set). */
import { queueConfigOf } from '../../config.js';
import { leaderOfKey } from '../../queue/kafka.js';
import { CLIENT_IDS, TOPICS } from '../../queue/names.js';

const config = queueConfigOf({ queue: 'kafka' });
const leader = await leaderOfKey(
  { brokers: config.kafkaBrokers, clientId: CLIENT_IDS.reconcile, topicPrefix: config.topicPrefix },
  TOPICS.orders,
  process.argv[2],
);
process.stdout.write(`${JSON.stringify(leader)}\n`);
