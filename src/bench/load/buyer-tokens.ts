import { createHmac } from 'node:crypto';

/**
 * The bench's stand-in for the shop's login: bearer tokens (JWT, HS256 with
 * the run's secret) for honest buyers, and the broken ones impostor bots
 * carry. Signed synchronously, because autocannon builds each request in a
 * synchronous callback and jose's SignJWT is async: a compact JWS is three
 * base64url parts and an HMAC. The gateway verifies every one, so a mistake
 * here fails every honest buy (test/bench/buyer-tokens.test.ts has jose and
 * the gateway's verifier check them). Each buyer's token is signed once and
 * kept, and sent again on each of the buyer's retries, as a browser keeps its
 * session: signing must not be what the bench measures, and a real crowd's
 * retries carry the token they signed in with (which the gateway's verified
 * tokens then answer without verifying again).
 */

/** What the server of a run with `--auth jwt` checks, and what the load generator signs with. Crosses a process boundary (IPC). */
export interface JwtTraffic {
  secret: string;
  issuer: string;
  audience: string;
}

/** The ways an impostor's token is wrong (see the bots' `badIdentity` share). */
export const IMPOSTOR_KINDS = ['missing', 'expired', 'forged', 'wrong-audience', 'wrong-issuer', 'other-user'] as const;
export type ImpostorKind = (typeof IMPOSTOR_KINDS)[number];

/** The iss and aud bench's own servers are started with (--jwt-issuer, --jwt-audience). */
export const BENCH_ISSUER = 'seckill-bench-login';
export const BENCH_AUDIENCE = 'seckill';

/** Honest tokens live this long: longer than any run, so none expires mid-load. */
const TOKEN_LIFE_SEC = 3_600;
/** Buyers whose token is kept; past it the cache starts over (a 500,000-buyer crowd must not grow it without end). */
const CACHE_SIZE = 200_000;

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

const signWith = (secret: string, claims: Record<string, unknown>): string => {
  const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
};

export const createBuyerTokens = (jwt: JwtTraffic, clock: () => number = Date.now) => {
  const cache = new Map<string, string>();
  const claimsOf = (sub: string, nowSec: number, over: Record<string, unknown> = {}) => ({
    sub,
    iss: jwt.issuer,
    aud: jwt.audience,
    iat: nowSec,
    exp: nowSec + TOKEN_LIFE_SEC,
    ...over,
  });

  /** `Authorization` header of an honest buyer: a valid token of their own. */
  const honest = (userId: string): string => {
    let header = cache.get(userId);
    if (header === undefined) {
      if (cache.size >= CACHE_SIZE) cache.clear();
      header = `Bearer ${signWith(jwt.secret, claimsOf(userId, Math.floor(clock() / 1000)))}`;
      cache.set(userId, header);
    }
    return header;
  };

  /**
   * `Authorization` header of an impostor claiming `sub` (null: it sends
   * none). `other-user` is a valid token of the impostor's own: the lie is
   * the userId in its body.
   */
  const impostor = (kind: ImpostorKind, sub: string): string | null => {
    const nowSec = Math.floor(clock() / 1000);
    switch (kind) {
      case 'missing':
        return null;
      case 'expired':
        return `Bearer ${signWith(jwt.secret, claimsOf(sub, nowSec - 2 * TOKEN_LIFE_SEC))}`;
      case 'forged':
        return `Bearer ${signWith(`${jwt.secret}-guessed`, claimsOf(sub, nowSec))}`;
      case 'wrong-audience':
        return `Bearer ${signWith(jwt.secret, claimsOf(sub, nowSec, { aud: `${jwt.audience}-admin` }))}`;
      case 'wrong-issuer':
        return `Bearer ${signWith(jwt.secret, claimsOf(sub, nowSec, { iss: `${jwt.issuer}.evil` }))}`;
      case 'other-user':
        return honest(sub);
    }
  };

  return { honest, impostor };
};
