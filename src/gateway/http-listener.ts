import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { sendJson } from './errors.js';

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** Why a connection is cut: a request too slow to arrive whole, or one that does not parse. */
export const CUT_REASONS = ['timeout', 'bad_request'] as const;
export type CutReason = (typeof CUT_REASONS)[number];

export interface Listener {
  server: Server;
  url: string;
  /** stop accepting, finish in-flight requests, then resolve */
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** the most a client may take to send a whole request (headers and body) */
  requestTimeoutMs: number;
  /** a connection cut: a request too slow to arrive whole ('timeout'), or one that does not parse ('bad_request') */
  onCut: (reason: CutReason) => void;
  /** every answer's status, once it is sent (or on its way) */
  onAnswer?: (status: number) => void;
}

/** A route has answered by the time it resolves, or (a handler that answers later) its status is counted when the answer is sent. */
const counted = (res: ServerResponse, onAnswer: (status: number) => void) => {
  if (res.headersSent) onAnswer(res.statusCode);
  else res.once('finish', () => onAnswer(res.statusCode));
};

/**
 * The gateway's HTTP server: node's, with its timeouts bounded (a slow or
 * stalled client is cut), a bug in a handler answered 500 rather than
 * hanging the buyer, and a close that drains keep-alive connections.
 */
export const listen = async (handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, options: ListenOptions): Promise<Listener> => {
  const { onAnswer } = options;
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: options.requestTimeoutMs,
      headersTimeout: options.requestTimeoutMs,
      // How often node looks for requests past their timeout (its default, 30 s, would let them run that much longer).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, options.requestTimeoutMs / 4)),
    },
    (req, res) => {
      handle(req, res).then(
        () => onAnswer && counted(res, onAnswer),
        (error: unknown) => {
          // A bug, not a dependency: answer and say so rather than hang the buyer.
          process.stderr.write(`unexpected error on ${req.method} ${req.url}: ${(error as Error).stack}\n`);
          if (!res.headersSent) sendJson(res, 500, '{"error":"INTERNAL","message":"unexpected error"}');
          else res.destroy();
          onAnswer?.(500);
        },
      );
    },
  );
  // A request too slow to arrive whole (ERR_HTTP_REQUEST_TIMEOUT) is cut:
  // counted and closed. One that does not parse is counted and answered 400.
  // Either gets an answer only as node itself would give it: when no
  // response on that socket has started (`_httpMessage` is node's own record
  // of it), so a stalled body after a 413, or garbage after a keep-alive
  // answer, never corrupts an answer already on its way.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent: boolean } | null }) => {
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (error.code !== 'ECONNRESET') {
      options.onCut(timedOut ? 'timeout' : 'bad_request');
      if (socket.writable && !socket._httpMessage?.headersSent) socket.write(timedOut ? REQUEST_TIMEOUT : BAD_REQUEST);
    }
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
