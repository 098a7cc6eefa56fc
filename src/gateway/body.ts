import type { IncomingMessage } from 'node:http';

/** `cut`: the connection closed before the body was whole (a client gone, or cut by the request timeout): nobody to answer. */
export type BodyResult = { ok: true; text: string; cut?: never } | { ok: false; tooLarge: true; cut?: never } | { ok: false; cut: true; tooLarge?: never };

/**
 * The rest of a refused body is read and thrown away, up to this much, so
 * that a client still sending can read its 413 instead of a reset
 * connection; past it the connection is cut.
 */
const DISCARD_LIMIT = 1_048_576;

const discardRest = (req: IncomingMessage, alreadyRead: number): void => {
  let discarded = alreadyRead;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT) req.destroy();
  });
  req.resume();
};

/**
 * Reads a request body of at most `limit` bytes. A declared Content-Length
 * over the limit is refused before a byte is read; a chunked body is refused
 * as soon as it passes the limit. Nothing over the limit is ever buffered or
 * parsed (the caller answers 413 and closes the connection).
 */
export const readBody = (req: IncomingMessage, limit: number): Promise<BodyResult> | BodyResult => {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    discardRest(req, 0);
    return { ok: false, tooLarge: true };
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        discardRest(req, size);
        resolve({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve({ ok: true, text: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8') });
    req.on('data', onData);
    req.on('end', onEnd);
    // A body that never arrives whole ends in a closed connection (ECONNRESET), not a bug.
    req.on('error', () => resolve({ ok: false, cut: true }));
    req.on('close', () => {
      if (!req.complete) resolve({ ok: false, cut: true });
    });
  });
};
