import cluster from 'node:cluster';
import type { Command } from 'commander';
import { freePort } from '../bench/servers/ports.js';
import { loadConnections } from '../config.js';
import { startGateway, type Gateway } from '../gateway/server.js';
import { joinFleet, startFleet } from '../gateway/workers.js';
import { connectRedis } from '../redis/connection.js';
import { openMysql } from '../store/mysql.js';
import { connectWaiting, logLine, onReload, onShutdown } from './common.js';
import { runAction } from './exit.js';
import { authenticatorOf, gatewayOptionsOf, identityLine, purchaseTokenOptions, SERVE_EXAMPLES, serveFlags, type ServeFlags } from './serve-flags.js';

/** `--workers N`: this process only supervises; N workers serve on its port (see gateway/workers.ts). */
const serveFleet = async (flags: ServeFlags): Promise<number> => {
  // A bad flag (or key file) is refused once, here, not once by every worker.
  purchaseTokenOptions(flags);
  loadConnections(flags);
  logLine(identityLine(await authenticatorOf(flags)));
  // Workers listening on port 0 share the random port of the primary's
  // handle (node's cluster docs), but only while one of them holds it: when
  // every worker dies at once, the restarted ones would get another port.
  // A real port, picked here, keeps the fleet's address for its whole life.
  const port = flags.port === 0 ? await freePort() : flags.port;
  const fleet = startFleet({
    workers: flags.workers,
    args: [...process.argv.slice(2), '--port', String(port)],
    shutdownTimeoutMs: flags.shutdownTimeout,
    log: logLine,
    onListening: (url, workers) => {
      const line = flags.json
        ? JSON.stringify({ listening: url, pid: process.pid, workers })
        : `seckill serve listening on ${url} (pid ${process.pid}, workers ${workers.join(' ')})`;
      process.stdout.write(`${line}\n`);
    },
  });
  onShutdown(async () => {
    if ((await fleet.stop()) !== 0) throw new Error('a worker did not stop cleanly');
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
  const auth = await authenticatorOf(flags);
  if (!cluster.isWorker) logLine(identityLine(auth));
  const redis = await connectWaiting('Redis', () => connectRedis(redisUrl), flags.wait);
  // Subscriber mode needs its own connection; it queues while offline so a
  // reconnect re-subscribes.
  const subscriber = await connectWaiting('Redis', () => connectRedis(redisUrl, { enableOfflineQueue: true, enableAutoPipelining: false }), flags.wait);
  const mysql = await connectWaiting('MySQL', () => openMysql(mysqlUrl), flags.wait);
  gateway = await startGateway({ redis, subscriber, mysql }, gatewayOptionsOf(flags, { purchaseTokens, auth, renderMetrics: fleet?.renderMetrics }));
  if (fleet) {
    fleet.listening(gateway.url); // the primary says it for the fleet
  } else {
    const line = flags.json ? JSON.stringify({ listening: gateway.url, pid: process.pid }) : `seckill serve listening on ${gateway.url} (pid ${process.pid})`;
    process.stdout.write(`${line}\n`);
  }

  const listening = gateway;
  onShutdown(async () => {
    // In-flight requests finish; past the timeout their connections are cut.
    const force = setTimeout(() => listening.server.closeAllConnections(), flags.shutdownTimeout).unref();
    await listening.close();
    clearTimeout(force);
    await Promise.allSettled([redis.quit(), subscriber.quit(), mysql.end()]);
  });
};

export const registerServe = (program: Command): void => {
  serveFlags(program.command('serve').description('Run the HTTP gateway: admission control, then one atomic Redis reservation per admitted buyer.'))
    .addHelpText('after', SERVE_EXAMPLES)
    .action(runAction(serve));
};
