import { describe, expect, it } from 'vitest';
import { retryWhileMoving } from '../../src/redis/redirected.js';

/** The retry alone (pure: the call is a stand-in); the resharding and failover tests drive it against a real cluster. */

const failing = (messages: string[]) => {
  let calls = 0;
  return {
    // Like a Redis command: a refusal comes back as a rejected promise, not a throw.
    call: () => {
      const message = messages[calls++];
      return message !== undefined ? Promise.reject(new Error(message)) : Promise.resolve('answered');
    },
    calls: () => calls,
  };
};

describe('a call whose slot moves under it', () => {
  it('is sent again after MOVED, ASK, CLUSTERDOWN and TRYAGAIN, and answers as soon as one goes through', async () => {
    const c = failing([
      'MOVED 3999 127.0.0.1:7101',
      'ASK 3999 127.0.0.1:7102',
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
    ]);
    expect(await retryWhileMoving(c.call)).toBe('answered');
    expect(c.calls()).toBe(5);
  });

  it('is not sent again for any other error, and gives up after its attempts', async () => {
    const other = failing(['ERR Error running script', 'never reached']);
    await expect(retryWhileMoving(other.call)).rejects.toThrow('ERR Error running script');
    expect(other.calls()).toBe(1);
    const moving = failing(['MOVED 1 a:1', 'MOVED 1 a:1', 'MOVED 1 a:1']);
    await expect(retryWhileMoving(moving.call, 2)).rejects.toThrow('MOVED');
    expect(moving.calls()).toBe(2);
  });
});
