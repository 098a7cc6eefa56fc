import cluster from 'node:cluster';
import type { Command } from 'commander';
import { freePort } from '../bench/servers/ports.js';
import { ConfigError, loadConnections } from '../config.js';
import { healthPage, startGateway, type Gateway } from '../gateway/server.js';
import { serveOperatorPages, type OperatorPages, type OperatorServer } from '../metrics-server.js';
import { joinFleet, startFleet } from '../gateway/workers.js';
import { connectRedis } from '../redis/connection.js';
import { openMysql } from '../store/mysql.js';
import { connectWaiting, logLine, onReload, onShutdown } from './common.js';
import { runAction } from './exit.js';
import {
  authenticatorOf,
  checkMetricsPort,
  DEFAULT_METRICS_HOST,
  gatewayOptionsOf,
  identityLine,
  purchaseTokenOptions,
  SERVE_EXAMPLES,
  serveFlags,
  type ServeFlags,
} from './serve-flags.js';

/**
 * `--metrics-port`: /metrics and /health on a port apart from the buyers',
 * for Prometheus and the probes (null without the flag). A port that cannot
 * be had is a set-up error.
 */
const startOperatorPort = async (flags: ServeFlags, pages: OperatorPages): Promise<OperatorServer | null> => {
  if (flags.metricsPort === undefined) return null;
  const host = flags.metricsHost ?? DEFAULT_METRICS_HOST;
  try {
    return await serveOperatorPages(pages, flags.metricsPort, host, (error) => logLine(`operator port: ${error.message}`));
  } catch (error) {
    throw new ConfigError(`--metrics-port ${flags.metricsPort} on ${host}: ${(error as Error).message}`);
  }
};

/** The ready line: where buyers go, and where the operator port is when there is one. */
const readyLine = (flags: ServeFlags, url: string, operator: OperatorServer | null, workers?: number[]): string => {
  if (flags.json) return JSON.stringify({ listening: url, pid: process.pid, ...(workers && { workers }), ...(operator && { metrics: operator.url }) });
  const also = [workers && `workers ${workers.join(' ')}`].filter(Boolean).join(', ');
  return `seckill serve listening on ${url} (pid ${process.pid}${also && `, ${also}`})${operator ? `; /metrics and /health on ${operator.url}` : ''}`;
};

/** `--workers N`: this process only supervises; N workers serve on its port (see gateway/workers.ts). */
const serveFleet = async (flags: ServeFlags): Promise<number> => {
  // A bad flag (or key file) is refused once, here, not once by every worker.
  purchaseTokenOptions(flags);
  loadConnections(flags);
  checkMetricsPort(flags);
  logLine(identityLine(await authenticatorOf(flags)));
  // Workers listening on port 0 share the random port of the primary's
  // handle (node's cluster docs), but only while one of them holds it: when
  // every worker dies at once, the restarted ones would get another port.
  // A real port, picked here, keeps the fleet's address for its whole life.
  const port = flags.port === 0 ? await freePort() : flags.port;
  // The primary serves the operator port itself: the workers' sums, each
  // worker's health. Its pages are first asked for in a later turn of the
  // event loop, when the fleet below exists.
  const operator = await startOperatorPort(flags, {
    '/metrics': () => fleet.metricsPage(),
    '/health': async () => healthPage(await fleet.health()),
  });
  const fleet = startFleet({
    workers: flags.workers,
    args: [...process.argv.slice(2), '--port', String(port)],
    shutdownTimeoutMs: flags.shutdownTimeout,
    log: logLine,
    onListening: (url, workers) => process.stdout.write(`${readyLine(flags, url, operator, workers)}\n`),
  });
  onShutdown(async () => {
    const stopped = await fleet.stop();
    await operator?.close();
    if (stopped !== 0) throw new Error('a worker did not stop cleanly');
  });
  onReload(() => {
    logLine('SIGHUP: passed on to every worker');
    fleet.reload();
    return Promise.resolve();
  });
  return fleet.ended;
};

const serve = async (flags: ServeFlags): Promise<number | void> => {
  if (flags.workers > 1 && cluster.isPrimary) return serveFleet(flags);
  const fleet = cluster.isWorker ? joinFleet(logLine) : undefined;
  // Handled from the first moment: a SIGHUP while still connecting must not end the process (its default).
  // eslint-disable-next-line prefer-const -- the SIGHUP handler just below reads it while still unset; a const declared at its assignment would throw there instead
  let gateway: Gateway | undefined;
  onReload(async () => {
    if (!gateway) return logLine('SIGHUP: still starting; the key files are being read anyway');
    try {
      const now = await gateway.reloadKeys();
      logLine(now === null ? 'SIGHUP: nothing to reload (--auth none)' : `SIGHUP: keys reloaded: ${now}`);
    } catch (error) {
      logLine(`SIGHUP: reload failed, the keys in use stay: ${(error as Error).message}`);
    }
  });
  const purchaseTokens = purchaseTokenOptions(flags);
  const { redisUrl, mysqlUrl } = loadConnections(flags);
  checkMetricsPort(flags);
  const auth = await authenticatorOf(flags);
  if (!cluster.isWorker) logLine(identityLine(auth));
  const redis = await connectWaiting('Redis', () => connectRedis(redisUrl), flags.wait);
  // Subscriber mode needs its own connection; it queues while offline so a
  // reconnect re-subscribes.
  const subscriber = await connectWaiting('Redis', () => connectRedis(redisUrl, { enableOfflineQueue: true, enableAutoPipelining: false }), flags.wait);
  const mysql = await connectWaiting('MySQL', () => openMysql(mysqlUrl), flags.wait);
  gateway = await startGateway({ redis, subscriber, mysql }, gatewayOptionsOf(flags, { purchaseTokens, auth, renderMetrics: fleet?.renderMetrics }));
  const listening = gateway;
  // In a worker the primary serves the operator port (and says the fleet listens).
  const operator = fleet
    ? null
    : await startOperatorPort(flags, {
        '/metrics': () => listening.metricsPage(),
        '/health': async () => healthPage(await listening.health.current()),
      });
  if (fleet) fleet.listening(gateway.url, () => listening.health.current());
  else process.stdout.write(`${readyLine(flags, gateway.url, operator)}\n`);

  onShutdown(async () => {
    // In-flight requests finish; past the timeout their connections are cut.
    const force = setTimeout(() => listening.server.closeAllConnections(), flags.shutdownTimeout).unref();
    await Promise.all([listening.close(), operator?.close()]);
    clearTimeout(force);
    await Promise.allSettled([redis.quit(), subscriber.quit(), mysql.end()]);
  });
};

export const registerServe = (program: Command): void => {
  serveFlags(program.command('serve').description('Run the HTTP gateway: admission control, then one atomic Redis reservation per admitted buyer.'))
    .addHelpText('after', SERVE_EXAMPLES)
    .action(runAction(serve));
};
