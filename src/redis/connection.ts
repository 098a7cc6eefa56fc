import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ErrorLog } from '../error-log.js';

/**
 * One Redis or a Redis Cluster: every command of seckill runs on either. A
 * script call touches one SKU's keys, all in the slot of its `{sku}` hash
 * tag, so the cluster routes it to one master like any single-key command.
 */
export type RedisClient = Redis | Cluster;

/** `redis-cluster://[user:password@]host:port,host:port,…`: seed nodes of a Redis Cluster. */
export const CLUSTER_PROTOCOL = 'redis-cluster:';

export interface ClusterAddress {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
}

/** The seed nodes (and credentials) of a `redis-cluster://` URL; throws a message naming what is wrong. */
export const parseClusterUrl = (url: string): ClusterAddress => {
  const match = /^redis-cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/.exec(url);
  if (!match) throw new Error(`a Redis Cluster URL is redis-cluster://host:port[,host:port…], got ${JSON.stringify(redactUrl(url))}`);
  const nodes = match[3].split(',').map((seed) => {
    const at = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(seed.trim());
    if (!at) throw new Error(`a Redis Cluster seed node is host:port, got ${JSON.stringify(seed)}`);
    return { host: at[1].replace(/^\[|\]$/g, ''), port: Number(at[2]) };
  });
  const decode = (part: string | undefined) => (part ? decodeURIComponent(part) : undefined);
  return { nodes, username: decode(match[1]), password: decode(match[2]) };
};

export const isClusterUrl = (url: string): boolean => url.startsWith(`${CLUSTER_PROTOCOL}//`);

/**
 * Opens a Redis (or Redis Cluster) connection and waits until it is ready,
 * so that a wrong address is reported at start, not on the first buyer's
 * request.
 *
 * The offline queue is off: while Redis is down a command fails at once
 * (the gateway answers 503) instead of queueing behind a reconnect and
 * holding the buyer's connection open. Auto-pipelining batches the
 * commands of concurrent requests into one write (per master on a cluster).
 *
 * On a cluster, MOVED and ASK (a resharding) are followed by ioredis; a
 * command whose master went away is retried after the slot map is read
 * again, every `retryDelayOnFailover` ms up to `maxRedirections` times —
 * about 4 s, longer than a replica takes to be promoted with the local
 * cluster's `cluster-node-timeout` — before the caller sees the error.
 */
export const connectRedis = async (url: string, options: RedisOptions = {}): Promise<RedisClient> => {
  const redis = createRedis(url, { lazyConnect: true, ...options });
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

/** A client for `url` with seckill's settings (see connectRedis), not yet connected unless `lazyConnect: false`. */
export const createRedis = (url: string, options: RedisOptions = {}): RedisClient => {
  const common = { connectTimeout: 3_000, maxRetriesPerRequest: 1, ...options };
  return isClusterUrl(url)
    ? clusterOf(parseClusterUrl(url), common)
    : new Redis(url, {
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
        ...common,
      });
};

const clusterOf = (address: ClusterAddress, options: RedisOptions): Cluster => {
  const { enableOfflineQueue = false, enableAutoPipelining = true, lazyConnect = false, ...nodeOptions } = options;
  return new Cluster(address.nodes, {
    lazyConnect,
    enableOfflineQueue,
    enableAutoPipelining,
    // Reads go to masters too: a replica may lag, and seckill reads what it is about to decide on.
    scaleReads: 'master',
    retryDelayOnFailover: 250,
    retryDelayOnClusterDown: 250,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    redisOptions: { ...nodeOptions, username: address.username, password: address.password },
  });
};

/** The URL without its password, for messages. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

/** The server's version (INFO server), for reports; on a cluster, that of the node the client asks. */
export const redisServerVersion = async (redis: RedisClient): Promise<string> => /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
