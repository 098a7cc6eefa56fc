import { MultipleErrors, ProtocolError, protocolErrors, ResponseError } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { whileKafkaSettles } from '../../src/queue/kafka.js';

/**
 * The admin requests of `reconcile --fix` (the queue's lag) on a cluster that
 * is settling. Pure: the request is a stand-in throwing the client's own
 * errors, as @platformatic/kafka throws them once it gave up retrying itself
 * (the broker's answers gathered in one error).
 */

/** The client's error after its own retries: each attempt's answer, the broker's error code in each. */
const gaveUp = (code: string) => {
  const answer = new ResponseError(10, 4, { '/': [protocolErrors[code].code, null] }, {});
  return new MultipleErrors('findGroupCoordinator failed 4 times.', [answer, answer, answer, answer]);
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
  it('is asked again while the coordinator loads or a leader is elected, also when the client gathered the error in its own (the suite once saw reconcile --fix fail on it)', async () => {
    const r = failing([gaveUp('COORDINATOR_LOAD_IN_PROGRESS'), gaveUp('NOT_LEADER_OR_FOLLOWER'), new ProtocolError('NOT_COORDINATOR')]);
    expect(await whileKafkaSettles(r.request)).toBe('answered');
    expect(r.calls()).toBe(4);
  });

  it('is not asked again for an error that is no settling', async () => {
    const r = failing([gaveUp('TOPIC_AUTHORIZATION_FAILED')]);
    await expect(whileKafkaSettles(r.request)).rejects.toThrow('failed 4 times');
    expect(r.calls()).toBe(1);
  });
});
