import { Redis, type RedisOptions } from 'ioredis';
import { ErrorLog } from '../error-log.js';

/**
 * Opens a Redis connection and waits until it is ready, so that a wrong
 * address is reported at start, not on the first buyer's request.
 *
 * The offline queue is off: while Redis is down a command fails at once
 * (the gateway answers 503) instead of queueing behind a reconnect and
 * holding the buyer's connection open. Auto-pipelining batches the
 * commands of concurrent requests into one write.
 */
export const connectRedis = async (url: string, options: RedisOptions = {}): Promise<Redis> => {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    ...options,
  });
  // ioredis emits 'error' on every failed reconnect attempt: say so, without
  // flooding (commands that fail meanwhile are answered and counted by their callers).
  const errors = new ErrorLog();
  // connect() itself only says "Connection is closed": the error before it says why (ENOTFOUND, ECONNREFUSED, WRONGPASS…).
  let why: Error | null = null;
  redis.on('error', (error: Error) => {
    why = error;
    errors.report(`Redis ${redactUrl(url)}`, error);
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    const cause = why ?? (error as Error);
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${cause.message}`, { cause });
  }
  return redis;
};

/** The URL without its password, for messages. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
