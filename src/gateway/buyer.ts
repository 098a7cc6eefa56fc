import type { IncomingMessage, ServerResponse } from 'node:http';
import { cannedError, type ErrorCode } from './errors.js';
import { AUTH_REFUSALS, type AuthRefusal, type Authenticator } from './identity.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * Who a request acts for — the one rule `POST /reserve`, `GET
 * /sales/:sku/token` and `POST /orders/:id/pay` share. With `--auth jwt` the
 * bearer token's sub; a userId the request also names must be that sub (403
 * WRONG_USER, else a token of A would buy as B). With `--auth none` (the
 * demo) the userId the request names, taken on its word.
 */

export type BuyerVerdict = { ok: true; userId: string } | { ok: false; outcome: Extract<ErrorCode, 'UNAUTHORIZED' | 'WRONG_USER' | 'BAD_REQUEST'> };

/** `signedIn`: buyers are identified by a bearer token (--auth jwt), so what is theirs (an order) can be kept from others. */
export type BuyerCheck = ((req: IncomingMessage, res: ServerResponse, named: string | undefined) => Promise<BuyerVerdict>) & { readonly signedIn: boolean };

const USER_ID_RULE = 'userId must be 1-64 characters of A-Z a-z 0-9 _ . : @ -';

/**
 * RFC 6750 §3: a request without credentials is told the scheme; one whose
 * token does not verify is told `invalid_token` too, which clients take as
 * "sign in again".
 */
const challenge = (reason: AuthRefusal): string =>
  reason === 'MISSING' ? 'Bearer realm="seckill"' : `Bearer realm="seckill", error="invalid_token", error_description="${AUTH_REFUSALS[reason]}"`;

export const createBuyerCheck = (auth: Authenticator | null, metrics: GatewayMetrics): BuyerCheck => {
  const missingUserId = cannedError('BAD_REQUEST', USER_ID_RULE);
  if (auth === null) {
    const takenOnItsWord = (_req: IncomingMessage, res: ServerResponse, named: string | undefined): Promise<BuyerVerdict> => {
      if (named !== undefined) return Promise.resolve({ ok: true, userId: named });
      missingUserId(res);
      return Promise.resolve({ ok: false, outcome: 'BAD_REQUEST' });
    };
    return Object.assign(takenOnItsWord, { signedIn: false });
  }
  // Refusals go out at the rate bots send them: their answers are built once.
  const refusals = new Map(
    (Object.keys(AUTH_REFUSALS) as AuthRefusal[]).map((reason) => [
      reason,
      cannedError('UNAUTHORIZED', AUTH_REFUSALS[reason], { reason }, { 'www-authenticate': challenge(reason) }),
    ]),
  );
  const otherUser = cannedError('WRONG_USER', 'userId is not the signed-in buyer (the bearer token sub): leave it out, or send your own');
  const signedIn = async (req: IncomingMessage, res: ServerResponse, named: string | undefined): Promise<BuyerVerdict> => {
    const identity = await auth.identify(req.headers.authorization);
    if (!identity.ok) {
      metrics.countAuthRefused(identity.reason);
      refusals.get(identity.reason)!(res);
      return { ok: false, outcome: 'UNAUTHORIZED' };
    }
    if (named !== undefined && named !== identity.userId) {
      metrics.countAuthRefused('WRONG_USER');
      otherUser(res);
      return { ok: false, outcome: 'WRONG_USER' };
    }
    return { ok: true, userId: identity.userId };
  };
  return Object.assign(signedIn, { signedIn: true });
};
