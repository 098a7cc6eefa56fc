import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import { readRedisSku, type RedisSkuState } from '../sale/catalog.js';
import { pingMysql } from '../store/mysql.js';
import { SKU_PATTERN, USER_ID_PATTERN } from '../sale/ids.js';
import { Reservations } from '../sale/reservations.js';
import { AdmissionTickets, keepInStep, SoldOutSales, TokenBucket } from './admission.js';
import { ErrorLog } from '../error-log.js';
import { sendError, sendJson } from './errors.js';
import { createGatewayMetrics } from './metrics.js';
import { createOrdersRoute } from './orders-route.js';
import { createPurchaseTokens, type PurchaseTokens } from './purchase-token.js';
import { createReserveRoute } from './reserve-route.js';
import { ceilingStrategy } from './strategies/ceiling.js';
import { mysqlStrategy } from './strategies/mysql.js';
import { seckillStrategy } from './strategies/seckill.js';
import type { ReserveStrategy, StrategyName } from './strategies/strategy.js';

export interface GatewayOptions {
  strategy: StrategyName;
  host: string;
  port: number;
  /** largest request body accepted, bytes */
  bodyLimit: number;
  /** token bucket: requests a second and burst, per process */
  rate: number;
  burst: number;
  /** admission cap factor K: at most K × units on sale reach Redis, per SKU */
  admissionFactor: number;
  /** admission tickets a process takes from Redis at a time */
  ticketChunk: number;
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
}

export interface GatewayDeps {
  redis: Redis;
  /** a second connection, in subscriber mode */
  subscriber: Redis;
  mysql: Pool;
}

export interface Gateway {
  server: Server;
  url: string;
  /** stop accepting, finish in-flight requests, then resolve */
  close(): Promise<void>;
}

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

const ORDER_PATH = /^\/orders\/([^/]{1,200})(\/pay)?$/;
const TOKEN_PATH = /^\/sales\/([^/]{1,200})\/token$/;

/** How long the token route trusts a SKU's sale window read from Redis. */
const SALE_WINDOW_TTL_MS = 1_000;
/** Distinct SKUs the window cache holds before it starts over: made-up SKU names must not grow it without end. */
const SALE_WINDOW_CACHE_SIZE = 10_000;

type SaleWindow = Pick<RedisSkuState, 'loaded' | 'startsAt' | 'endsAt'>;

/**
 * A SKU's sale window, read from Redis at most once a second per SKU per
 * process: a crowd asking for tokens at the start of a sale shares one read.
 */
const cachedSaleWindows = (redis: Redis) => {
  const cache = new Map<string, { readAt: number; window: Promise<SaleWindow> }>();
  return (sku: string, now: number): Promise<SaleWindow> => {
    const hit = cache.get(sku);
    if (hit && now - hit.readAt < SALE_WINDOW_TTL_MS) return hit.window;
    if (cache.size >= SALE_WINDOW_CACHE_SIZE) cache.clear();
    const entry = { readAt: now, window: readRedisSku(redis, sku) };
    cache.set(sku, entry);
    // A failed read is not remembered: the next request asks Redis again.
    entry.window.catch(() => cache.get(sku) === entry && cache.delete(sku));
    return entry.window;
  };
};

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
  const soldOut = new SoldOutSales(deps.redis, options.soldOutTtlMs);
  const metrics = createGatewayMetrics(() => soldOut.flagged());
  const errors = new ErrorLog();
  const reservations = new Reservations(deps.redis);
  const tickets = new AdmissionTickets(deps.redis, options.admissionFactor, options.ticketChunk, options.soldOutTtlMs, soldOut);
  await keepInStep(deps.subscriber, soldOut, tickets);

  const strategy = chooseStrategy(
    options.strategy,
    () => seckillStrategy({ reservations, soldOut, bucket: new TokenBucket(options.rate, options.burst), tickets }),
    deps.mysql,
    options.payTimeoutMs,
  );
  const tokens: PurchaseTokens | undefined = options.purchaseTokens && createPurchaseTokens(options.purchaseTokens);
  const saleWindow = cachedSaleWindows(deps.redis);
  const reserve = createReserveRoute({ strategy, metrics, errors, bodyLimit: options.bodyLimit, tokens });
  const orders = createOrdersRoute({ reservations, mysql: deps.mysql, metrics, errors, bodyLimit: options.bodyLimit });

  const health = async (res: ServerResponse) => {
    const check = (p: Promise<unknown>) =>
      p.then(
        () => 'up',
        (error: Error) => `down: ${error.message}`,
      );
    const [redis, mysql] = await Promise.all([check(deps.redis.ping()), check(pingMysql(deps.mysql))]);
    const ok = redis === 'up' && mysql === 'up';
    sendJson(res, ok ? 200 : 503, JSON.stringify({ ok, redis, mysql }));
  };

  /** `GET /sales/:sku/token?userId=U`: a purchase token, once the sale has started. */
  const issueToken = async (sku: string, query: string, res: ServerResponse) => {
    if (!tokens) return sendError(res, 'NOT_FOUND', 'purchase tokens are off on this server (seckill serve --require-token)');
    if (!SKU_PATTERN.test(sku)) return sendError(res, 'BAD_REQUEST', 'sku must be 1-64 characters of A-Z a-z 0-9 _ -');
    const userIds = new URLSearchParams(query).getAll('userId');
    const userId = userIds.length === 1 ? userIds[0]! : '';
    if (!USER_ID_PATTERN.test(userId)) return sendError(res, 'BAD_REQUEST', 'userId must be given once, 1-64 characters of A-Z a-z 0-9 _ . : @ -');
    const now = Date.now();
    let window: SaleWindow;
    try {
      window = await saleWindow(sku, now);
    } catch (error) {
      errors.report('redis', error);
      metrics.dependencyErrors.labels('redis').inc();
      return sendError(res, 'REDIS_DOWN', 'sale service unavailable, try again shortly');
    }
    if (!window.loaded) return sendError(res, 'UNKNOWN_SKU', 'no sale is loaded for this sku');
    if (window.startsAt !== null && now < window.startsAt) return sendError(res, 'NOT_STARTED', 'the sale has not started yet');
    if (window.endsAt !== null && now >= window.endsAt) return sendError(res, 'ENDED', 'the sale has ended');
    sendJson(res, 200, JSON.stringify(tokens.issue(sku, userId)), { 'cache-control': 'no-store' });
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const path = url.indexOf('?') === -1 ? url : url.slice(0, url.indexOf('?'));
    const method = req.method;
    const allow = (allowed: string) => {
      res.setHeader('allow', allowed);
      sendError(res, 'METHOD_NOT_ALLOWED', `use ${allowed} on ${path}`);
    };
    if (path === '/reserve') return method === 'POST' ? reserve(req, res) : allow('POST');
    if (path === '/health') return method === 'GET' ? health(res) : allow('GET');
    if (path === '/metrics') {
      if (method !== 'GET') return allow('GET');
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return void res.end(await metrics.registry.metrics());
    }
    const sale = TOKEN_PATH.exec(path);
    if (sale) return method === 'GET' ? issueToken(sale[1]!, url.slice(path.length + 1), res) : allow('GET');
    const order = ORDER_PATH.exec(path);
    if (order && order[2]) return method === 'POST' ? orders.pay(order[1]!, req, res) : allow('POST');
    if (order) return method === 'GET' ? orders.getOrder(order[1]!, res) : allow('GET');
    sendError(res, 'NOT_FOUND', `no route ${path}`);
  };

  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: options.requestTimeoutMs,
      headersTimeout: options.requestTimeoutMs,
      // How often node looks for requests past their timeout (its default, 30 s, would let them run that much longer).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, options.requestTimeoutMs / 4)),
    },
    (req, res) =>
      route(req, res).catch((error: unknown) => {
        // A bug, not a dependency: answer and say so rather than hang the buyer.
        process.stderr.write(`unexpected error on ${req.method} ${req.url}: ${(error as Error).stack}\n`);
        if (!res.headersSent) sendJson(res, 500, '{"error":"INTERNAL","message":"unexpected error"}');
        else res.destroy();
      }),
  );
  // A request too slow to arrive whole (ERR_HTTP_REQUEST_TIMEOUT) is cut:
  // counted and closed. One that does not parse is counted and answered 400.
  // Either gets an answer only as node itself would give it: when no
  // response on that socket has started (`_httpMessage` is node's own record
  // of it), so a stalled body after a 413, or garbage after a keep-alive
  // answer, never corrupts an answer already on its way.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent: boolean } | null }) => {
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (error.code !== 'ECONNRESET') metrics.clientsCut.labels(timedOut ? 'timeout' : 'bad_request').inc();
    if (error.code !== 'ECONNRESET' && socket.writable && !socket._httpMessage?.headersSent) socket.write(timedOut ? REQUEST_TIMEOUT : BAD_REQUEST);
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const close = () =>
    new Promise<void>((resolve) => {
      // A connection answering its last request goes idle afterwards, not
      // closed (keep-alive): sweep idle ones until the server has closed.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.close(() => {
        clearInterval(sweep);
        resolve();
      });
      server.closeIdleConnections();
    });

  return { server, url: `http://${options.host}:${port}`, close };
};
