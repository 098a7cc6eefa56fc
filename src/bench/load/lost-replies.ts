import { connect } from 'node:net';
import { orderIdOf, outcomeOf } from './answers.js';
import type { LostReply } from './load-plan.js';
import type { BuyAttempt } from './traffic.js';

/** Longest a lost send or a retry may take before it is given up: the load stops by itself. */
const GIVE_UP_MS = 10_000;

/**
 * Buyers whose reply is lost: each sends its first attempt whole on a
 * connection of its own and drops the connection as the answer starts to
 * arrive, without reading it (the server did its work; the buyer never
 * learns what). Once its SKU has sold out — the moment a real buyer's retry
 * is most likely to meet a "sold out" shortcut — or when the load ends, the
 * buyer retries with the same request id and records what it is told: its
 * order id if the first attempt reserved one.
 */
export const createLostReplies = (url: string) => {
  const { hostname, port } = new URL(url);
  const pending: { attempt: BuyAttempt; sent: Promise<void>; retried: boolean }[] = [];
  const retries: Promise<LostReply>[] = [];

  const send = (attempt: BuyAttempt): Promise<void> =>
    new Promise((done) => {
      const socket = connect(Number(port), hostname);
      const drop = () => socket.destroy();
      const timer = setTimeout(drop, GIVE_UP_MS);
      socket.once('connect', () =>
        socket.write(
          `POST /reserve HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n${attempt.authorization === null ? '' : `Authorization: ${attempt.authorization}\r\n`}Content-Length: ${Buffer.byteLength(attempt.body)}\r\n\r\n${attempt.body}`,
        ),
      );
      socket.once('data', drop);
      socket.on('error', () => {}); // a refused or reset connection is a lost reply too
      socket.once('close', () => {
        clearTimeout(timer);
        done();
      });
    });

  const retry = async ({ sku, userId, requestId, body, authorization }: BuyAttempt): Promise<LostReply> => {
    try {
      const headers: Record<string, string> =
        authorization === null ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', authorization };
      const res = await fetch(`${url}/reserve`, { method: 'POST', body, headers, signal: AbortSignal.timeout(GIVE_UP_MS) });
      const text = await res.text();
      return { sku, userId, requestId, retryOutcome: res.status >= 500 ? null : outcomeOf(res.status, text), retryOrderId: orderIdOf(text) };
    } catch {
      return { sku, userId, requestId, retryOutcome: null, retryOrderId: null };
    }
  };

  const retryOnceSent = (entry: (typeof pending)[number]) => {
    entry.retried = true;
    retries.push(entry.sent.then(() => retry(entry.attempt)));
  };

  return {
    /** sends one lost-reply attempt; `soldOut` says whether its SKU has sold out already (then it retries at once) */
    send: (attempt: BuyAttempt, soldOut: boolean) => {
      const entry = { attempt, sent: send(attempt), retried: false };
      pending.push(entry);
      if (soldOut) retryOnceSent(entry);
    },
    /** the SKU sold out: every buyer of it whose reply was lost retries now */
    soldOut: (sku: string) => {
      for (const entry of pending) if (!entry.retried && entry.attempt.sku === sku) retryOnceSent(entry);
    },
    /** the load is over: whoever has not retried does, and every retry's answer is in */
    finish: async (): Promise<LostReply[]> => {
      for (const entry of pending) if (!entry.retried) retryOnceSent(entry);
      return Promise.all(retries);
    },
  };
};
