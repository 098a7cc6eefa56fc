import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * /metrics on a port of its own, for the processes that have no HTTP server
 * of their own (relay, consume, the reconcile watcher), and serve's operator
 * port (`serve --metrics-port`: /metrics and /health, apart from the buyers').
 * `scrapeErrors` counts scrapes that failed: a scrape never takes the
 * process down.
 */
export interface ScrapedMetrics {
  registry: Registry;
  scrapeErrors: Counter<'what'>;
}

/** An answer of the operator port: GET /metrics (the Prometheus text) or GET /health (JSON). */
export interface MetricsPage {
  status: number;
  headers: Record<string, string>;
  text: string;
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

/** The pages of an operator port, by path; each is asked for on every GET of its path. */
export type OperatorPages = Record<string, () => Promise<MetricsPage>>;

export interface OperatorServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the given pages (GET only) on a port of its own; any other path is
 * 404. A page that fails is answered 500 with why and passed to `onError`,
 * never thrown. Port 0: any free port (the url says which).
 */
export const serveOperatorPages = (pages: OperatorPages, port: number, host: string, onError: (error: Error) => void = () => {}): Promise<OperatorServer> => {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const page = Object.hasOwn(pages, path) ? pages[path] : undefined;
    if (!page) return void res.writeHead(404, { 'content-type': 'text/plain' }).end(`no page ${path} here: ${Object.keys(pages).join(', ')}\n`);
    if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end(`use GET on ${path}\n`);
    page().then(
      (answer) => res.writeHead(answer.status, answer.headers).end(answer.text),
      (error: Error) => {
        onError(error);
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${path} unavailable: ${error.message}\n`);
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        server,
        url: `http://${shown}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
};

/** A registry's text as a page. */
export const registryPage = async (registry: Registry): Promise<MetricsPage> => ({
  status: 200,
  headers: { 'content-type': registry.contentType },
  text: await registry.metrics(),
});

/** Serves GET /metrics on its own port (0 = none). A scrape that fails is answered 500 and counted, never thrown. */
export const serveMetrics = async (metrics: ScrapedMetrics, port: number, host = '127.0.0.1'): Promise<Server | null> => {
  if (port === 0) return null;
  const { registry, scrapeErrors } = metrics;
  const operator = await serveOperatorPages({ '/metrics': () => registryPage(registry) }, port, host, () => scrapeErrors.labels('scrape').inc());
  return operator.server;
};
