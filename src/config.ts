/**
 * Env vars and flags → one typed, validated config. Flags win over env vars;
 * a bad value stops the command with a message that names it (exit code 2).
 */

import { CLUSTER_PROTOCOL, isClusterUrl, parseClusterUrl } from './redis/connection.js';
import type { JwtAuthOptions } from './gateway/identity.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG';
}

export interface Connections {
  redisUrl: string;
  mysqlUrl: string;
}

export const DEFAULTS = {
  redisUrl: 'redis://127.0.0.1:6379',
  mysqlUrl: 'mysql://root@127.0.0.1:3306/seckill',
} as const;

const checkUrl = (name: string, value: string, protocols: string[]): string => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a URL: ${JSON.stringify(value)} (expected e.g. ${protocols[0]}//127.0.0.1)`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.join(' or ')}, got ${JSON.stringify(value)}`);
  }
  return value;
};

/** One Redis (redis://, rediss://) or the seed nodes of a Redis Cluster (redis-cluster://host:port,host:port…). */
const checkRedisUrl = (value: string): string => {
  if (!isClusterUrl(value)) return checkUrl('REDIS_URL', value, ['redis:', 'rediss:', CLUSTER_PROTOCOL]);
  try {
    parseClusterUrl(value);
  } catch (error) {
    throw new ConfigError(`REDIS_URL: ${(error as Error).message}`);
  }
  return value;
};

export const loadConnections = (flags: { redisUrl?: string; mysqlUrl?: string }, env = process.env): Connections => ({
  redisUrl: checkRedisUrl(flags.redisUrl ?? env.REDIS_URL ?? DEFAULTS.redisUrl),
  mysqlUrl: checkUrl('MYSQL_URL', flags.mysqlUrl ?? env.MYSQL_URL ?? DEFAULTS.mysqlUrl, ['mysql:']),
});

/** Parses a whole number flag within bounds, naming the flag when it is not one. */
export const intOption =
  (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  (raw: string): number => {
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };

/** Parses an ISO 8601 time flag to ms since epoch. */
export const timeOption =
  (flag: string) =>
  (raw: string): number => {
    const ms = Date.parse(raw);
    if (Number.isNaN(ms)) {
      throw new ConfigError(`${flag} must be an ISO 8601 time such as 2026-11-11T00:00:00Z, got ${JSON.stringify(raw)}`);
    }
    return ms;
  };

export type QueueKind = 'kafka' | 'redis';

export interface QueueConfig {
  queue: QueueKind;
  kafkaBrokers: string[];
  partitions: number;
  /** absent: as many copies as the cluster has brokers, up to 3 */
  replicationFactor?: number;
  topicPrefix: string;
  sessionTimeoutMs: number;
}

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:9092';

/** What a queue is made with when nobody says otherwise. */
/** How long a buyer has to pay, in seconds from when the order is written to MySQL: consume's sweeper, the MySQL baselines, bench. */
export const PAY_TIMEOUT_SEC = 900;

/**
 * The longest one order batch's MySQL transaction may go unanswered before
 * the consumer drops its connection and tries again: a MySQL that is paused
 * or cut off answers nothing and refuses nothing, and a wait without end
 * would say nothing. A batch takes well under a second when MySQL answers.
 */
export const MYSQL_TRANSACTION_DEADLINE_MS = 10_000;

export const QUEUE_DEFAULTS = {
  partitions: 6,
  /** Kafka: how long a consumer that died keeps its partitions */
  sessionTimeoutMs: 30_000,
} as const;

/** The queue the flags name; KAFKA_BROKERS and SECKILL_TOPIC_PREFIX from the env when no flag says; the rest from QUEUE_DEFAULTS. */
export const queueConfigOf = (
  given: { queue: QueueKind; kafkaBrokers?: string; topicPrefix?: string; partitions?: number; replicationFactor?: number; sessionTimeout?: number },
  env = process.env,
): QueueConfig => ({
  queue: given.queue,
  kafkaBrokers: loadKafkaBrokers(given.kafkaBrokers, env),
  partitions: given.partitions ?? QUEUE_DEFAULTS.partitions,
  replicationFactor: given.replicationFactor,
  topicPrefix: given.topicPrefix ?? env.SECKILL_TOPIC_PREFIX ?? '',
  sessionTimeoutMs: given.sessionTimeout ?? QUEUE_DEFAULTS.sessionTimeoutMs,
});

/** KAFKA_BROKERS: comma-separated host:port list. */
export const loadKafkaBrokers = (flag: string | undefined, env = process.env): string[] => {
  const raw = flag ?? env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS;
  const brokers = raw
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const b of brokers) {
    if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(b)) throw new ConfigError(`KAFKA_BROKERS must be host:port[,host:port…], got ${JSON.stringify(raw)}`);
  }
  if (brokers.length === 0) throw new ConfigError('KAFKA_BROKERS is empty');
  return brokers;
};

/** `serve --auth`: who a buyer is. */
export type AuthMode = 'none' | 'jwt';
export const AUTH_MODES: readonly AuthMode[] = ['none', 'jwt'];

export interface AuthFlags {
  auth: AuthMode;
  jwtSecret?: string;
  jwtPublicKey?: string;
  jwks?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
}

/**
 * `--auth jwt` and its key: exactly one of `--jwks FILE`, `--jwt-public-key
 * FILE`, or an HS256 secret (`--jwt-secret`, else env SECKILL_JWT_SECRET,
 * which a file flag overrides). null for `--auth none`, which takes no JWT
 * flag: one given there would be a check the operator thinks is on.
 */
export const jwtAuthConfig = (flags: AuthFlags, env = process.env): JwtAuthOptions | null => {
  const jwtFlags = (['jwtSecret', 'jwtPublicKey', 'jwks', 'jwtIssuer', 'jwtAudience'] as const).filter((f) => flags[f] !== undefined);
  const flagName = (f: string) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (flags.auth === 'none') {
    if (jwtFlags.length > 0)
      throw new ConfigError(
        `${jwtFlags.map(flagName).join(', ')} ${jwtFlags.length > 1 ? 'need' : 'needs'} --auth jwt (with --auth none nobody's token is checked)`,
      );
    return null;
  }
  const files = [
    flags.jwks !== undefined && '--jwks',
    flags.jwtPublicKey !== undefined && '--jwt-public-key',
    flags.jwtSecret !== undefined && '--jwt-secret',
  ].filter(Boolean);
  if (files.length > 1) throw new ConfigError(`--auth jwt takes one key: ${files.join(' or ')}, not both`);
  const checks = { ...(flags.jwtIssuer !== undefined && { issuer: flags.jwtIssuer }), ...(flags.jwtAudience !== undefined && { audience: flags.jwtAudience }) };
  if (flags.jwks !== undefined) return { keys: { kind: 'jwks', file: flags.jwks }, ...checks };
  if (flags.jwtPublicKey !== undefined) return { keys: { kind: 'public-key', file: flags.jwtPublicKey }, ...checks };
  const secret = flags.jwtSecret ?? env.SECKILL_JWT_SECRET;
  if (secret === undefined || secret === '')
    throw new ConfigError('--auth jwt needs a key: --jwks FILE, --jwt-public-key FILE, or an HS256 secret in env SECKILL_JWT_SECRET (or --jwt-secret)');
  return { keys: { kind: 'secret', secret }, ...checks };
};
