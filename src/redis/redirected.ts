import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Errors of a Redis Cluster whose slots are moving under a call: a
 * resharding (MOVED, ASK) or a failover (CLUSTERDOWN, TRYAGAIN). ioredis
 * follows a redirection itself, except for a pipeline that spans several
 * slots — which auto-pipelining makes of the commands of many SKUs on one
 * master — so such a call can fail with MOVED until the slot map is read again.
 */
const MOVING = /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/;

/** The call again, up to `attempts` times 100 ms apart, while it fails because its slot is moving. Only for a call that may run twice. */
export const retryWhileMoving = async <T>(call: () => Promise<T>, attempts = 5): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || !MOVING.test((error as Error).message ?? '')) throw error;
      await sleep(100 * attempt);
    }
  }
};
