import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import { Reservations } from '../sale/reservations.js';
import { AdmissionTickets, followStockEvents, SoldOutFlags, TokenBucket } from './admission.js';
import { ErrorLog } from './error-log.js';
import { sendError, sendJson } from './errors.js';
import { createGatewayMetrics } from './metrics.js';
import { createOrdersRoute } from './orders-route.js';
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
  /** payment deadline of orders the MySQL baselines write themselves */
  payTimeoutMs: number;
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

const ORDER_PATH = /^\/orders\/([^/]{1,200})(\/pay)?$/;

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
  const metrics = createGatewayMetrics();
  const errors = new ErrorLog();
  const reservations = new Reservations(deps.redis);
  const soldOut = new SoldOutFlags(options.soldOutTtlMs, (n) => metrics.soldOutSkus.set(n));
  const tickets = new AdmissionTickets(deps.redis, options.admissionFactor, options.ticketChunk, options.soldOutTtlMs);
  await followStockEvents(deps.subscriber, soldOut, tickets);

  const strategy = chooseStrategy(
    options.strategy,
    () => seckillStrategy({ reservations, soldOut, bucket: new TokenBucket(options.rate, options.burst), tickets }),
    deps.mysql,
    options.payTimeoutMs,
  );
  const reserve = createReserveRoute({ strategy, metrics, errors, bodyLimit: options.bodyLimit });
  const orders = createOrdersRoute({ reservations, mysql: deps.mysql, metrics, errors, bodyLimit: options.bodyLimit });

  const health = async (res: ServerResponse) => {
    const check = (p: Promise<unknown>) =>
      p.then(
        () => 'up',
        (error: Error) => `down: ${error.message}`,
      );
    const [redis, mysql] = await Promise.all([check(deps.redis.ping()), check(deps.mysql.query('SELECT 1'))]);
    const ok = redis === 'up' && mysql === 'up';
    sendJson(res, ok ? 200 : 503, JSON.stringify({ ok, redis, mysql }));
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
    const order = ORDER_PATH.exec(path);
    if (order && order[2]) return method === 'POST' ? orders.pay(order[1]!, req, res) : allow('POST');
    if (order) return method === 'GET' ? orders.getOrder(order[1]!, res) : allow('GET');
    sendError(res, 'NOT_FOUND', `no route ${path}`);
  };

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    route(req, res).catch((error: unknown) => {
      // A bug, not a dependency: answer and say so rather than hang the buyer.
      process.stderr.write(`unexpected error on ${req.method} ${req.url}: ${(error as Error).stack}\n`);
      if (!res.headersSent) sendJson(res, 500, '{"error":"INTERNAL","message":"unexpected error"}');
      else res.destroy();
    });
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
