/**
 * The flags of `seckill serve` and the gateway options they fill: the flag
 * table, what each secret and key file must be, and the help's examples.
 * serve.ts only starts what they describe.
 */
import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { AUTH_MODES, ConfigError, intOption, jwtAuthConfig, PAY_TIMEOUT_SEC, type AuthFlags } from '../config.js';
import { createJwtAuthenticator, type Authenticator } from '../gateway/identity.js';
import { KeyLoadError } from '../gateway/jwt-keys.js';
import { DEFAULT_TICKET_LEASE_MS } from '../gateway/admission-cap.js';
import type { GatewayOptions } from '../gateway/server.js';
import { STRATEGY_NAMES } from '../gateway/strategies/strategy.js';
import { DEFAULT_GROUP_LIMITS, MAX_GROUP_ITEMS } from '../sale/reservations.js';
import { connectionFlags, replicaAckFlags, waitFlag } from './common.js';

export type ServeFlags = Omit<
  GatewayOptions,
  | 'soldOutTtlMs'
  | 'ticketLeaseMs'
  | 'payTimeoutMs'
  | 'purchaseTokens'
  | 'requestTimeoutMs'
  | 'renderMetrics'
  | 'replicaAckTimeoutMs'
  | 'groupCommit'
  | 'auth'
  | 'metricsPortApart'
> &
  AuthFlags & {
    groupCommit: boolean;
    groupSize: number;
    workers: number;
    ticketLease: number;
    replicaAckTimeout: number;
    soldOutTtl: number;
    requestTimeout: number;
    payTimeout: number;
    requireToken?: boolean;
    tokenTtl: number;
    shutdownTimeout: number;
    /** the operator port (/metrics, /health), apart from the buyers'; unset: both on the buyers' port */
    metricsPort?: number;
    metricsHost?: string;
    wait: number;
    json?: boolean;
    redisUrl?: string;
    mysqlUrl?: string;
  };

/** Shorter secrets are refused: the HMAC is only as strong as the secret. */
const MIN_SECRET_LENGTH = 16;

export const purchaseTokenOptions = (flags: ServeFlags, env = process.env): GatewayOptions['purchaseTokens'] => {
  if (!flags.requireToken) return undefined;
  const secret = env.SECKILL_SECRET ?? '';
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `--require-token needs a secret of at least ${MIN_SECRET_LENGTH} characters in env SECKILL_SECRET (${secret ? `it has ${secret.length}` : 'it is not set'})`,
    );
  }
  return { secret, ttlMs: flags.tokenTtl * 1000 };
};

/** The buyers' identity the flags ask for: null for --auth none; a key that does not load is a set-up error (exit 2). */
export const authenticatorOf = async (flags: ServeFlags): Promise<Authenticator | null> => {
  const config = jwtAuthConfig(flags);
  if (config === null) return null;
  try {
    return await createJwtAuthenticator(config);
  } catch (error) {
    if (error instanceof KeyLoadError) throw new ConfigError(`--auth jwt: ${error.message}`);
    throw error;
  }
};

/** Said once at start-up, so nobody runs the demo's trust-the-body mode in front of real buyers without knowing. */
export const identityLine = (auth: Authenticator | null): string =>
  auth === null
    ? 'identity: --auth none: the userId a request names is taken on its word (the demo; behind a real login use --auth jwt)'
    : `identity: --auth jwt: the buyer is the bearer token's sub; ${auth.describe()}; SIGHUP reads the key file again`;

/** `--metrics-port` on the buyers' own port would leave one of the two servers without it; `--metrics-host` alone would do nothing. */
/** Where the operator port listens unless --metrics-host says. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

export const checkMetricsPort = (flags: ServeFlags): void => {
  if (flags.metricsHost !== undefined && flags.metricsPort === undefined) {
    throw new ConfigError('--metrics-host is the address of the operator port: give --metrics-port too');
  }
  if (flags.metricsPort !== undefined && flags.metricsPort !== 0 && flags.metricsPort === flags.port) {
    throw new ConfigError(`--metrics-port ${flags.metricsPort} is --port too: the operator port must be another one (or leave --metrics-port out)`);
  }
};

/** `--workers`: a count, or `auto` for one per core this process may use. */
const workersOption = (raw: string): number => (raw === 'auto' ? availableParallelism() : intOption('--workers', 1, 1024)(raw));

/** The gateway's options from serve's flags: durations in ms, the group-commit limits; what only the CLI reads is left out. */
export const gatewayOptionsOf = (flags: ServeFlags, set: Pick<GatewayOptions, 'purchaseTokens' | 'auth' | 'renderMetrics'>): GatewayOptions => {
  const {
    soldOutTtl,
    ticketLease,
    payTimeout,
    requestTimeout,
    replicaAckTimeout,
    groupCommit,
    groupSize,
    requireToken: _t,
    tokenTtl: _tt,
    shutdownTimeout: _s,
    wait: _w,
    json: _j,
    redisUrl: _r,
    mysqlUrl: _m,
    workers: _n,
    metricsPort,
    metricsHost: _mh,
    auth: _a,
    jwtSecret: _js,
    jwtPublicKey: _jp,
    jwks: _jk,
    jwtIssuer: _ji,
    jwtAudience: _ja,
    ...options
  } = flags;
  return {
    ...options,
    soldOutTtlMs: soldOutTtl,
    ticketLeaseMs: ticketLease,
    payTimeoutMs: payTimeout * 1000,
    requestTimeoutMs: requestTimeout,
    replicaAckTimeoutMs: replicaAckTimeout,
    groupCommit: groupCommit ? { ...DEFAULT_GROUP_LIMITS, maxItems: groupSize } : null,
    metricsPortApart: metricsPort !== undefined,
    ...set,
  };
};

/** serve's flags on its command, with what every command that touches the stores takes. */
export const serveFlags = (command: Command): Command =>
  replicaAckFlags(
    waitFlag(
      connectionFlags(
        command
          .addOption(
            new Option('--strategy <name>', 'how a buy is answered: seckill, or a baseline/ceiling for bench').choices(STRATEGY_NAMES).default('seckill'),
          )
          .option('--host <addr>', 'address to listen on', '127.0.0.1')
          .option('--port <n>', 'port to listen on (0 = any free port)', intOption('--port', 0, 65535), 8080)
          .option(
            '--metrics-port <n>',
            "operator port: GET /metrics and /health there, and the buyers' port answers /metrics 404 (0 = any free port; unset: /metrics on the buyers' port)",
            intOption('--metrics-port', 0, 65535),
          )
          .option('--metrics-host <addr>', 'address of the operator port (--metrics-port); default 127.0.0.1')
          .option(
            '--workers <n>',
            'processes serving the one port: a number, or auto (one per core); each has its own Redis and MySQL connections',
            workersOption,
            1,
          )
          .option(
            '--body-limit <bytes>',
            'largest request body accepted; larger is refused with 413 before parsing',
            intOption('--body-limit', 64, 1_048_576),
            1024,
          )
          .option(
            '--rate <n>',
            'rate limit: requests per second admitted by all the servers sharing this Redis (started with the same --rate and --burst)',
            intOption('--rate', 1),
            100_000,
          )
          .option('--burst <n>', 'rate limit: burst size, for all the servers sharing this Redis', intOption('--burst', 1), 20_000)
          .option('--no-group-commit', 'one reserve.lua call per admitted request (by default the requests of a SKU that arrive together share one call)')
          .option(
            '--group-size <n>',
            'group commit: most requests one reserve.lua call decides',
            intOption('--group-size', 1, MAX_GROUP_ITEMS),
            DEFAULT_GROUP_LIMITS.maxItems,
          )
          .option(
            '--admission-factor <k>',
            'admission cap: at most K × units on sale reach Redis per SKU (all processes)',
            intOption('--admission-factor', 1),
            10,
          )
          .option(
            '--ticket-chunk <n>',
            'admission tickets this process takes from Redis at a time (fewer near the cap)',
            intOption('--ticket-chunk', 1, 100_000),
            64,
          )
          .option(
            '--ticket-lease <ms>',
            'how long this process may hold admission tickets it took: SIGTERM gives back what is unspent, a crashed process strands them this long at most',
            intOption('--ticket-lease', 100, 600_000),
            DEFAULT_TICKET_LEASE_MS,
          )
          .option(
            '--request-timeout <ms>',
            'the most a client may take to send a whole request (headers and body); slower connections are cut and counted',
            intOption('--request-timeout', 100, 300_000),
            5_000,
          )
          .option('--sold-out-ttl <ms>', 'how long a local sold-out flag is trusted before asking Redis again', intOption('--sold-out-ttl', 1), 1_000)
          .option('--require-token', 'POST /reserve needs a purchase token from GET /sales/:sku/token (secret: env SECKILL_SECRET, 16+ characters)')
          .option('--token-ttl <seconds>', 'how long a purchase token stays valid', intOption('--token-ttl', 1, 86_400), 60)
          .addOption(
            new Option(
              '--auth <mode>',
              'who a buyer is: none (the userId a request names: the demo) or jwt (the sub of a signed token in Authorization: Bearer, checked by the gateway)',
            )
              .choices(AUTH_MODES)
              .default('none'),
          )
          .option('--jwt-secret <secret>', '--auth jwt: HS256 secret, 32+ bytes (better: env SECKILL_JWT_SECRET, which ps does not show)')
          .option('--jwt-public-key <file>', '--auth jwt: PEM public key (RSA: RS256, EC P-256: ES256); SIGHUP reads it again')
          .option('--jwks <file>', '--auth jwt: JWKS file of public keys, chosen by the token kid (rotation: add the new key, later remove the old, SIGHUP)')
          .option('--jwt-issuer <iss>', '--auth jwt: the iss every token must carry')
          .option('--jwt-audience <aud>', '--auth jwt: an aud every token must carry')
          .option('--pay-timeout <seconds>', 'mysql-* strategies: payment deadline of the orders they write', intOption('--pay-timeout', 1), PAY_TIMEOUT_SEC)
          .option(
            '--shutdown-timeout <ms>',
            'on SIGTERM, how long in-flight requests may take before connections are cut',
            intOption('--shutdown-timeout', 0),
            10_000,
          ),
      ),
    ),
    'an order before any answer names it (201, DUPLICATE, LIMIT), and a sell-out before SOLD_OUT is said (unconfirmed in time: 503, retry with the same requestId)',
  );

export const SERVE_EXAMPLES = `
Examples:
  $ seckill serve --port 8080
  $ REDIS_URL=redis://10.0.0.5:6379 seckill serve --rate 50000 --burst 5000
  $ seckill serve --port 8080 --workers auto    # one port, a worker process per core
  $ seckill serve --port 8080 --metrics-port 9464 --metrics-host 10.0.0.3    # buyers on 8080; Prometheus and probes on 10.0.0.3:9464
  $ curl -s 10.0.0.3:9464/health    # 200 {"ok":true,"redis":"up","mysql":"up"}, or 503 saying which is down
  $ curl -s -XPOST localhost:8080/reserve -d '{"sku":"phone-1","userId":"u1","requestId":"r1"}'
  $ SECKILL_SECRET=$(openssl rand -hex 32) seckill serve --require-token --token-ttl 30
  $ curl -s 'localhost:8080/sales/phone-1/token?userId=u1'    # then POST /reserve with {"token": ...}
  $ SECKILL_JWT_SECRET=$(openssl rand -hex 32) seckill serve --auth jwt --jwt-issuer https://login.shop --jwt-audience seckill
  $ seckill serve --auth jwt --jwks /etc/seckill/jwks.json --jwt-issuer https://login.shop --jwt-audience seckill
  $ curl -s -XPOST localhost:8080/reserve -H "authorization: Bearer $JWT" -d '{"sku":"phone-1","requestId":"r1"}'
  $ kill -HUP <pid>    # read the --jwks / --jwt-public-key file again (a bad file keeps the keys in use)

Answers: 201 reserved; 409 limit or duplicate (with the existing orderId);
410 sold out or ended; 403 not started, or BAD_TOKEN (with --require-token);
401 UNAUTHORIZED with a reason, 403 WRONG_USER for another buyer's userId (with --auth jwt);
404 unknown sku; 429 admission refused; 400 bad input; 413 body too large;
503 Redis down (retry with the same requestId).
GET /health answers from a check of Redis and MySQL at most a second old (200, or
503 naming the store that is down); seckill_dependency_up exports the same check.
SIGTERM stops accepting, finishes in-flight requests, closes connections, exits 0
(with --workers: the primary does so for every worker, and restarts one that crashed).
SIGHUP reads the --jwks / --jwt-public-key file again without dropping a connection
(with --workers: the primary passes it on to every worker).`;
