import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { whileKafkaSettles } from '../../src/queue/kafka.js';

/**
 * The admin requests of `reconcile --fix` (the queue's lag) on a cluster that
 * is settling. Pure: the request is a stand-in throwing kafkajs's own errors,
 * as kafkajs throws them once it gave up retrying itself.
 */

/** kafkajs's error after its own retries: the protocol error (with its type) as the cause. */
const gaveUp = (type: string, message: string) => {
  const protocol = Object.assign(new KafkaJSProtocolError(message), { type });
  return new KafkaJSNumberOfRetriesExceeded(protocol, { retryCount: 5, retryTime: 1_000 });
};

const failing = (errors: Error[]) => {
  let calls = 0;
  return {
    request: () => {
      const error = errors[calls++];
      return error ? Promise.reject(error) : Promise.resolve('answered');
    },
    calls: () => calls,
  };
};

describe('an admin request while Kafka settles', () => {
  it('is asked again while the coordinator loads or a leader is elected, also when kafkajs wrapped the error (the suite once saw reconcile --fix fail on it)', async () => {
    const r = failing([
      gaveUp('COORDINATOR_LOAD_IN_PROGRESS', "The coordinator is loading and hence can't process requests for this group"),
      gaveUp('NOT_LEADER_FOR_PARTITION', 'This server is not the leader for that topic-partition'),
    ]);
    expect(await whileKafkaSettles(r.request)).toBe('answered');
    expect(r.calls()).toBe(3);
  });

  it('is not asked again for an error that is no settling', async () => {
    const r = failing([gaveUp('TOPIC_AUTHORIZATION_FAILED', 'Not authorized to access topics')]);
    await expect(whileKafkaSettles(r.request)).rejects.toThrow('Not authorized');
    expect(r.calls()).toBe(1);
  });
});
