import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Purchase tokens: a short-lived proof that a buyer asked the sale page for
 * one (`GET /sales/:sku/token`) before `POST /reserve`, so a bot that posts
 * straight to /reserve is refused in-process, before admission or Redis.
 *
 * A token is `<expiresAt ms>.<HMAC-SHA256(secret, sku \n userId \n expiresAt), base64url>`.
 * The sku and user id are not in it: the reserve body names them, and a token
 * signed for another pair does not verify. `\n` cannot occur in either id
 * (src/sale/ids.ts), so no two triples sign the same text.
 * Verifying costs one HMAC and no I/O; an expired or malformed token costs none.
 */

export interface IssuedToken {
  token: string;
  /** ms since epoch */
  expiresAt: number;
}

export interface PurchaseTokens {
  issue(sku: string, userId: string): IssuedToken;
  /** true only for a token issued for this sku and user that has not expired */
  verify(token: string | undefined, sku: string, userId: string): boolean;
}

/** The length of a base64url SHA-256 digest, without padding. */
const MAC_LENGTH = 43;
const TOKEN_PATTERN = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/;

export const createPurchaseTokens = (options: { secret: string; ttlMs: number; clock?: () => number }): PurchaseTokens => {
  const { secret, ttlMs, clock = Date.now } = options;
  const mac = (sku: string, userId: string, expiresAt: string): string =>
    createHmac('sha256', secret).update(`${sku}\n${userId}\n${expiresAt}`).digest('base64url');

  return {
    issue: (sku, userId) => {
      const expiresAt = clock() + ttlMs;
      return { token: `${expiresAt}.${mac(sku, userId, String(expiresAt))}`, expiresAt };
    },
    verify: (token, sku, userId) => {
      if (token === undefined || token.length > 16 + 1 + MAC_LENGTH) return false;
      const parts = TOKEN_PATTERN.exec(token);
      if (parts === null || Number(parts[1]) <= clock()) return false;
      // The text compared is the canonical encoding, so a token whose MAC is
      // spelled differently but decodes to the same bytes is not accepted.
      const expected = Buffer.from(mac(sku, userId, parts[1]), 'latin1');
      return timingSafeEqual(expected, Buffer.from(parts[2], 'latin1'));
    },
  };
};
