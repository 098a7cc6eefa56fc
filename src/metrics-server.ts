import { createServer, type Server } from 'node:http';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * /metrics on a port of its own, for the processes that have no HTTP server
 * of their own (relay, consume, the reconcile watcher; serve answers it on its
 * port). `scrapeErrors` counts scrapes that failed: a scrape never takes the
 * process down.
 */
export interface ScrapedMetrics {
  registry: Registry;
  scrapeErrors: Counter<'what'>;
}

/** A registry for such a process: the process metrics (event-loop lag, heap) and the count of scrapes that failed. */
export const scrapedRegistry = (): ScrapedMetrics => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'seckill_' });
  const scrapeErrors = new Counter({
    name: 'seckill_metrics_errors_total',
    help: 'Scrapes that could not read a value (its last one was shown) or failed',
    labelNames: ['what'],
    registers: [registry],
  });
  return { registry, scrapeErrors };
};

/** Serves GET /metrics on its own port (0 = none). A scrape that fails is answered 500 and counted, never thrown. */
export const serveMetrics = (metrics: ScrapedMetrics, port: number, host = '127.0.0.1'): Promise<Server | null> => {
  if (port === 0) return Promise.resolve(null);
  const { registry, scrapeErrors } = metrics;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (error: Error) => {
        scrapeErrors.labels('scrape').inc();
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics unavailable: ${error.message}\n`);
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
};
