import type { IncomingMessage, ServerResponse } from 'node:http';
import { Outcome } from '../sale/outcomes.js';
import type { Reservations } from '../sale/reservations.js';
import type { AdmissionTickets, SoldOutFlags, TicketAnswer, TokenBucket } from './admission.js';
import { readBody } from './body.js';
import { cannedError, errorBody, type ErrorCode, sendJson, STATUS } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import { parseReserveBody } from './reserve-request.js';
import type { ErrorLog } from './error-log.js';

export interface ReserveRouteDeps {
  reservations: Reservations;
  soldOut: SoldOutFlags;
  bucket: TokenBucket;
  tickets: AdmissionTickets;
  metrics: GatewayMetrics;
  errors: ErrorLog;
  bodyLimit: number;
}

/**
 * `POST /reserve`: the admission layers, cheapest first, then one atomic
 * reserve.lua call. Only an admitted, valid request reaches Redis, and it
 * does so in a single round trip.
 */
export const createReserveRoute = (deps: ReserveRouteDeps) => {
  const { reservations, soldOut, bucket, tickets, metrics, errors, bodyLimit } = deps;
  const tooLarge = cannedError('BODY_TOO_LARGE', `body is larger than ${bodyLimit} bytes`);
  const soldOutAnswer = cannedError('SOLD_OUT', 'sold out');
  const rateLimited = cannedError('RATE_LIMITED', 'too many requests to this server, try again shortly');
  const admissionClosed = cannedError('ADMISSION_CLOSED', 'this sale admits no more buyers for now, try again shortly');
  const unknownSku = cannedError('UNKNOWN_SKU', 'no sale is loaded for this sku');
  const ended = cannedError('ENDED', 'the sale has ended');
  const notStarted = cannedError('NOT_STARTED', 'the sale has not started yet');

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const done = (outcome: string) => {
      metrics.countOutcome(outcome);
      metrics.latency.observe((performance.now() - started) / 1000);
    };
    const refuse = (code: ErrorCode, send: (res: ServerResponse) => void) => {
      send(res);
      done(code);
    };

    const body = await readBody(req, bodyLimit);
    if (!body.ok) {
      // Close the connection: the rest of an oversized body is not read.
      res.setHeader('connection', 'close');
      return refuse('BODY_TOO_LARGE', tooLarge);
    }
    const parsed = parseReserveBody(body.text);
    if (!parsed.ok) {
      sendJson(res, STATUS.BAD_REQUEST, errorBody('BAD_REQUEST', parsed.message));
      return done('BAD_REQUEST');
    }
    const request = parsed.request;
    const now = Date.now();
    if (soldOut.isSoldOut(request.sku, now)) return refuse('SOLD_OUT', soldOutAnswer);
    if (!bucket.take()) return refuse('RATE_LIMITED', rateLimited);

    try {
      const ticket = tickets.admit(request.sku, now);
      const admitted: TicketAnswer = typeof ticket === 'string' ? ticket : await ticket;
      if (admitted === 'CLOSED') return refuse('ADMISSION_CLOSED', admissionClosed);
      if (admitted === 'NOT_LOADED') return refuse('UNKNOWN_SKU', unknownSku);

      const result = await reservations.reserve(request, now);
      switch (result.outcome) {
        case Outcome.OK:
          sendJson(res, 201, `{"orderId":"${result.orderId}","remaining":${result.remaining}}`);
          if (result.remaining === 0) soldOut.set(request.sku);
          return done(Outcome.OK);
        case Outcome.DUPLICATE:
          sendJson(res, STATUS.DUPLICATE, errorBody('DUPLICATE', 'this request id was answered before', { orderId: result.orderId }));
          return done(Outcome.DUPLICATE);
        case Outcome.LIMIT:
          sendJson(
            res,
            STATUS.LIMIT,
            result.orderId === null
              ? errorBody('LIMIT', 'qty is over the per-user limit of this sale')
              : errorBody('LIMIT', 'this user already holds an order for this sku', { orderId: result.orderId }),
          );
          return done(Outcome.LIMIT);
        case Outcome.SOLD_OUT:
          // Only "nothing left" sells out locally; two left while three were
          // asked for is a refusal of this request, not of the SKU.
          if (result.remaining === 0) soldOut.set(request.sku);
          return refuse('SOLD_OUT', soldOutAnswer);
        case Outcome.ENDED:
          return refuse('ENDED', ended);
        case Outcome.NOT_STARTED:
          return refuse('NOT_STARTED', notStarted);
        case Outcome.NOT_LOADED:
          return refuse('UNKNOWN_SKU', unknownSku);
      }
    } catch (error) {
      errors.report('redis', error);
      metrics.dependencyErrors.labels('redis').inc();
      sendJson(res, STATUS.REDIS_DOWN, errorBody('REDIS_DOWN', 'stock service unavailable, retry with the same requestId'));
      return done('REDIS_DOWN');
    }
  };
};
