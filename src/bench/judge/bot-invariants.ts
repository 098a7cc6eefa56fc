/** The invariants of a crowd with bots in it: a bot without a purchase token, or with a bad identity, holds nothing and is told no order. */
import { IMPOSTOR_PREFIX } from '../load/traffic.js';
import type { InvariantResult, SaleState } from './judged-sale.js';

/** Bots that posted without a purchase token (users `bot<n>`) must hold nothing: no order, no reservation. */
export const botsHoldNothing = (state: SaleState): InvariantResult => {
  const held = state.skus.flatMap((s) => [...s.orders, ...s.reservations].filter((o) => o.userId.startsWith('bot')).map((o) => `${o.userId}: ${o.orderId}`));
  return {
    name: 'bots-without-token-hold-nothing',
    ok: held.length === 0,
    detail: held.length === 0 ? 'no order or reservation of a bot without a token' : `bots hold ${held.length}: ${held.slice(0, 5).join(', ')}`,
  };
};

/**
 * Impostors (bad bearer tokens, or a good one and another buyer's userId)
 * must hold nothing and have been told no order: no order (so none paid) and
 * no reservation under their own user id, none under the honest buyer one
 * named (their request ids give them away), and no 201 or order id answered
 * to one of their requests.
 */
export const impostorsHoldNothing = (state: SaleState): InvariantResult => {
  const isImpostor = (userId: string, requestId?: string | null) => userId.startsWith(IMPOSTOR_PREFIX) || (requestId ?? '').startsWith(IMPOSTOR_PREFIX);
  const wrong = [
    ...state.skus.flatMap((s) =>
      s.orders.filter((o) => isImpostor(o.userId, o.requestId)).map((o) => `${o.userId}/${o.requestId}: order ${o.orderId} ${o.status}`),
    ),
    // A reservation record names no request id; one under an honest buyer's name is also an order or an answer once drained.
    ...state.skus.flatMap((s) => s.reservations.filter((r) => isImpostor(r.userId)).map((r) => `${r.userId}: reservation ${r.orderId}`)),
    ...state.answers.filter((a) => isImpostor(a.userId, a.requestId)).map((a) => `${a.userId}/${a.requestId}: answered ${a.status} with ${a.orderId}`),
  ];
  return {
    name: 'bots-with-bad-identity-hold-nothing',
    ok: wrong.length === 0,
    detail:
      wrong.length === 0
        ? 'no order (none paid), reservation or order id for a bot with a missing, expired, forged, wrong-audience, wrong-issuer or other-user token'
        : `impostors got ${wrong.length}: ${wrong.slice(0, 5).join(', ')}`,
  };
};
