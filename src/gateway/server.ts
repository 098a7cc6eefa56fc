import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { registryPage, type MetricsPage } from '../metrics-server.js';
import type { RedisClient } from '../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { pingMysql } from '../store/mysql.js';
import type { GroupLimits } from '../group-commit.js';
import { ReplicaAcks } from '../redis/replica-acks.js';
import { Reservations } from '../sale/reservations.js';
import { RedisClockEstimate } from '../sale/sale-clock.js';
import { StockTransfers } from '../sale/transfers.js';
import { AdmissionCap } from './admission-cap.js';
import { keepInStep } from './keep-in-step.js';
import { RateLimit } from './rate-limit.js';
import { SoldOutSales } from './sold-out.js';
import { ErrorLog } from '../error-log.js';
import { sendError, sendJson } from './errors.js';
import { listen, type Listener } from './http-listener.js';
import { DependencyHealth, type HealthReport } from './health.js';
import { createGatewayMetrics } from './metrics.js';
import { createOrdersRoute } from './orders-route.js';
import { createPurchaseTokens, type PurchaseTokens } from './purchase-token.js';
import { createBuyerCheck } from './buyer.js';
import type { Authenticator } from './identity.js';
import { createReserveRoute } from './reserve-route.js';
import { SaleLayouts } from './sale-layouts.js';
import { ceilingStrategy } from './strategies/ceiling.js';
import { mysqlStrategy } from './strategies/mysql.js';
import { seckillStrategy } from './strategies/seckill.js';
import type { ReserveStrategy, StrategyName } from './strategies/strategy.js';
import { createTokenRoute } from './token-route.js';

export interface GatewayOptions {
  strategy: StrategyName;
  host: string;
  port: number;
  /** largest request body accepted, bytes */
  bodyLimit: number;
  /** token bucket: requests a second and burst, for the whole fleet of processes sharing this Redis (and these settings) */
  rate: number;
  burst: number;
  /**
   * replicas that must hold a reservation before its 201 (Redis WAIT), so a
   * master's failover loses no order a buyer was told of; 0 = the master's word
   */
  replicaAcks: number;
  replicaAckTimeoutMs: number;
  /** group commit's bounds (a SKU's requests arriving together share one reserve.lua call), or null for one call per request */
  groupCommit: GroupLimits | null;
  /** admission cap factor K: at most K × units on sale reach Redis, per SKU */
  admissionFactor: number;
  /** admission tickets a process takes from Redis at a time */
  ticketChunk: number;
  /** how long a lease of admission tickets lasts: what a process that dies strands comes back after this long */
  ticketLeaseMs: number;
  /** how long a local sold-out flag (or a closed admission cap) is trusted */
  soldOutTtlMs: number;
  /**
   * the most a client may take to send a whole request, headers and body;
   * past it the connection is cut, so slow or stalled clients cannot hold
   * the server's sockets (node's own default is 5 minutes)
   */
  requestTimeoutMs: number;
  /** payment deadline of orders the MySQL baselines write themselves */
  payTimeoutMs: number;
  /** when set, `POST /reserve` needs a token from `GET /sales/:sku/token`; off by default */
  purchaseTokens?: { secret: string; ttlMs: number };
  /**
   * --auth jwt: buyers are who their bearer token says (identity.ts); null:
   * the userId a request names is taken on its word (--auth none, the demo)
   */
  auth: Authenticator | null;
  /**
   * how GET /metrics is answered; by default from this process's own
   * registry. A worker of `serve --workers` answers with the fleet's sums (workers.ts).
   */
  renderMetrics?: () => Promise<MetricsPage>;
  /**
   * `serve --metrics-port`: /metrics is served on the operator port (by
   * serve.ts, from `Gateway.metricsPage`), and the buyers' port answers it 404
   */
  metricsPortApart?: boolean;
}

export interface GatewayDeps {
  redis: RedisClient;
  /** a second connection, in subscriber mode */
  subscriber: RedisClient;
  mysql: Pool;
}

export interface Gateway extends Listener {
  /**
   * Reads the key files of --auth jwt again (SIGHUP), counted in
   * seckill_auth_key_reloads_total; a file that does not load keeps the keys
   * in use and rejects with why. Resolves with what is checked now, or null
   * when there is nothing to reload (--auth none).
   */
  reloadKeys(): Promise<string | null>;
  /** Redis and MySQL as GET /health sees them: a report at most a second old */
  health: DependencyHealth;
  /** GET /metrics as the buyers' port would answer it (this process's registry, or the fleet's sums in a worker) */
  metricsPage(): Promise<MetricsPage>;
}

/** GET /health's answer: 200 when both stores answer, else 503; the body says which is down and why. */
export const healthPage = (report: HealthReport): MetricsPage => ({
  status: report.ok ? 200 : 503,
  headers: { 'content-type': 'application/json' },
  text: JSON.stringify(report),
});

/**
 * The API's description (GET /openapi.json): the package's openapi.json,
 * the one file the tests validate every answer against, read once at start
 * (the same URL from src/gateway/ and dist/gateway/).
 */
const OPENAPI_FILE = new URL('../../openapi.json', import.meta.url);

const ORDER_PATH = /^\/orders\/([^/]{1,200})(\/pay)?$/;
const TOKEN_PATH = /^\/sales\/([^/]{1,200})\/token$/;

const chooseStrategy = (name: StrategyName, seckill: () => ReserveStrategy, mysql: Pool, payTimeoutMs: number): ReserveStrategy => {
  switch (name) {
    case 'seckill':
      return seckill();
    case 'ceiling':
      return ceilingStrategy();
    case 'mysql-update':
    case 'mysql-for-update':
      return mysqlStrategy(name, mysql, payTimeoutMs);
  }
};

export const startGateway = async (deps: GatewayDeps, options: GatewayOptions): Promise<Gateway> => {
  const openapi = await readFile(OPENAPI_FILE, 'utf8');
  const replicaAcks = options.replicaAcks > 0 ? new ReplicaAcks(deps.redis, options.replicaAcks, options.replicaAckTimeoutMs) : null;
  const soldOut = new SoldOutSales(deps.redis, options.soldOutTtlMs, replicaAcks);
  const metrics = createGatewayMetrics(
    () => soldOut.flagged(),
    () => health.current(),
  );
  const health = new DependencyHealth({
    checks: { redis: () => deps.redis.ping(), mysql: () => pingMysql(deps.mysql) },
    onCheck: () => metrics.dependencyChecks.inc(),
  });
  const errors = new ErrorLog();
  const reservations = new Reservations(deps.redis, {
    replicaAcks,
    groupCommit: options.groupCommit,
    onReserveCall: (requests) => metrics.reserveCallSize.observe(requests),
  });
  const tickets = new AdmissionCap(
    deps.redis,
    { factor: options.admissionFactor, chunk: options.ticketChunk, leaseMs: options.ticketLeaseMs, refusalTtlMs: options.soldOutTtlMs },
    soldOut,
  );
  const layouts = new SaleLayouts(deps.redis, (error) => errors.report('redis', error));
  await keepInStep(deps.subscriber, soldOut, tickets, layouts);
  const transfers = new StockTransfers(deps.redis, { onStep: (step) => metrics.bucketTransfers.labels(step).inc() }, replicaAcks);
  const onTopUpError = (error: unknown) => {
    metrics.dependencyErrors.labels('redis').inc();
    errors.report('redis', error);
  };

  const strategy = chooseStrategy(
    options.strategy,
    () =>
      seckillStrategy({ reservations, soldOut, rateLimit: new RateLimit(deps.redis, options.rate, options.burst), tickets, layouts, transfers, onTopUpError }),
    deps.mysql,
    options.payTimeoutMs,
  );
  const tokens: PurchaseTokens | undefined = options.purchaseTokens && createPurchaseTokens(options.purchaseTokens);
  const buyer = createBuyerCheck(options.auth, metrics);
  const reserve = createReserveRoute({ strategy, metrics, errors, bodyLimit: options.bodyLimit, buyer, tokens });
  const orders = createOrdersRoute({ reservations, mysql: deps.mysql, metrics, errors, bodyLimit: options.bodyLimit, buyer });
  const clock = new RedisClockEstimate(deps.redis, (error) => errors.report('redis', error));
  if (tokens) await clock.measure();
  const issueToken = createTokenRoute({ redis: deps.redis, clock, tokens, buyer, metrics, errors });

  const sendPage = (res: ServerResponse, page: MetricsPage) => void res.writeHead(page.status, page.headers).end(page.text);
  const metricsPage = () => options.renderMetrics?.() ?? registryPage(metrics.registry);

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const path = url.indexOf('?') === -1 ? url : url.slice(0, url.indexOf('?'));
    const method = req.method;
    const allow = (allowed: string) => {
      res.setHeader('allow', allowed);
      sendError(res, 'METHOD_NOT_ALLOWED', `use ${allowed} on ${path}`);
    };
    if (path === '/reserve') return method === 'POST' ? reserve(req, res) : allow('POST');
    if (path === '/health') return method === 'GET' ? sendPage(res, healthPage(await health.current())) : allow('GET');
    if (path === '/metrics' && !options.metricsPortApart) return method === 'GET' ? sendPage(res, await metricsPage()) : allow('GET');
    if (path === '/openapi.json') return method === 'GET' ? sendJson(res, 200, openapi) : allow('GET');
    const sale = TOKEN_PATH.exec(path);
    if (sale) return method === 'GET' ? issueToken(sale[1], url.slice(path.length + 1), req, res) : allow('GET');
    const order = ORDER_PATH.exec(path);
    if (order && order[2]) return method === 'POST' ? orders.pay(order[1], req, res) : allow('POST');
    if (order) return method === 'GET' ? orders.getOrder(order[1], req, res) : allow('GET');
    sendError(res, 'NOT_FOUND', `no route ${path}`);
  };

  const listener = await listen(route, {
    host: options.host,
    port: options.port,
    requestTimeoutMs: options.requestTimeoutMs,
    onCut: (reason) => metrics.clientsCut.labels(reason).inc(),
    onAnswer: metrics.countAnswer,
  });
  const auth = options.auth;
  const reloadKeys = async (): Promise<string | null> => {
    if (auth === null) return null;
    try {
      await auth.reload();
    } catch (error) {
      metrics.keyReloads.labels('failed').inc();
      throw error;
    }
    metrics.keyReloads.labels('ok').inc();
    return auth.describe();
  };
  // Stopping: once every request in flight is answered, the tickets this process did not use go back to the fleet.
  const close = async () => {
    await listener.close();
    await tickets.giveBackAll().catch((error: unknown) => errors.report('redis', error));
    replicaAcks?.close();
  };
  return { ...listener, close, reloadKeys, health, metricsPage };
};
