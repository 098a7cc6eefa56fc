import { USER_ID_PATTERN } from '../sale/ids.js';
import type { ClaimChecks } from './hs256-jwt.js';
import { loadKeys, type KeySource, type VerificationKeys } from './jwt-keys.js';
import { VerifiedTokens } from './verified-tokens.js';

/**
 * `serve --auth jwt`: the buyer is who the shop's login says, not what the
 * request body says. The login signs a JWT; the gateway reads it from
 * `Authorization: Bearer …`, verifies signature, algorithm, expiry, issuer
 * and audience (HS256 synchronously, public keys with jose: jwt-keys.ts),
 * and takes its `sub` as the buyer. All of it in process, no I/O: the key is
 * loaded once (and again on reload), not per request, and a token that
 * verified is taken until its exp without verifying it again
 * (verified-tokens.ts).
 */

/** Why a request was not let in, each with the message its 401 carries (fixed text: nothing from the token is echoed). */
export const AUTH_REFUSALS = {
  MISSING: 'sign in first: Authorization: Bearer <token> is required',
  MALFORMED: 'the bearer token is not a well-formed JWT with exp and sub claims',
  EXPIRED: 'the bearer token has expired: sign in again',
  NOT_YET_VALID: 'the bearer token is not valid yet (nbf)',
  BAD_SIGNATURE: 'the bearer token signature does not verify',
  BAD_ALGORITHM: 'the bearer token is signed with an algorithm this server does not accept',
  UNKNOWN_KEY: 'the bearer token is signed with a key this server does not hold (kid unknown or missing)',
  WRONG_ISSUER: 'the bearer token was issued by another issuer',
  WRONG_AUDIENCE: 'the bearer token is meant for another audience',
  BAD_SUBJECT: 'the bearer token sub is not a user id (1-64 characters of A-Z a-z 0-9 _ . : @ -)',
} as const;

export type AuthRefusal = keyof typeof AUTH_REFUSALS;

export type Identified = { ok: true; userId: string } | { ok: false; reason: AuthRefusal };

export interface JwtAuthOptions {
  keys: KeySource;
  /** the `iss` a token must carry; unset, any */
  issuer?: string;
  /** an `aud` a token must carry; unset, any */
  audience?: string;
}

export interface Authenticator {
  /** the buyer of a request, from its Authorization header */
  identify(authorization: string | undefined): Promise<Identified>;
  /** reads the key files again; on failure the keys in use stay and the error is thrown (the caller logs it) */
  reload(): Promise<void>;
  /** what is checked, for the start-up and reload log lines */
  describe(): string;
}

/**
 * How long past `exp` (and before `nbf`) a token is still taken: the login's
 * clock and ours are not one clock. Short, so an expired token is refused
 * within seconds.
 */
export const CLOCK_TOLERANCE_SEC = 5;
/** A bearer token longer than this is not one a login issues: refused unread. */
const MAX_TOKEN_LENGTH = 4_096;
const BEARER = /^Bearer +([A-Za-z0-9_.~+/=-]+) *$/i;

/**
 * Verified tokens kept (verified-tokens.ts), per process: the buyers of a
 * sale's busiest minutes, at a few hundred bytes each (~20 MB full).
 */
export const VERIFIED_TOKENS_KEPT = 50_000;

/** The claims every token is checked for, given the flags. */
export const claimChecksOf = (options: Pick<JwtAuthOptions, 'issuer' | 'audience'>): ClaimChecks => ({
  // exp is required: a token without one would let its holder in for ever (and so no verified token is kept for ever).
  requiredClaims: ['exp', 'sub'],
  clockTolerance: CLOCK_TOLERANCE_SEC,
  ...(options.issuer !== undefined && { issuer: options.issuer }),
  ...(options.audience !== undefined && { audience: options.audience }),
});

/** `clock`: the time tokens are checked at (a test's, to step past an exp). */
export const createJwtAuthenticator = async (options: JwtAuthOptions, clock: () => number = Date.now): Promise<Authenticator> => {
  const checks = claimChecksOf(options);
  let keys: VerificationKeys = await loadKeys(options.keys, checks);
  const verified = new VerifiedTokens(VERIFIED_TOKENS_KEPT);

  const identify = async (authorization: string | undefined): Promise<Identified> => {
    if (authorization === undefined || authorization === '') return { ok: false, reason: 'MISSING' };
    if (authorization.length > MAX_TOKEN_LENGTH + 16) return { ok: false, reason: 'MALFORMED' };
    const bearer = BEARER.exec(authorization);
    if (bearer === null) return { ok: false, reason: 'MALFORMED' };
    const token = bearer[1];
    const nowSec = Math.floor(clock() / 1000);
    const known = verified.get(token, nowSec);
    if (known !== undefined) return { ok: true, userId: known };
    const keysUsed = keys;
    const verdict = await keysUsed.verify(token, nowSec);
    if (!verdict.ok) return verdict;
    const { sub, exp } = verdict.claims;
    // The sub becomes the user id Redis and MySQL key the limit by: the same rule as a body's userId.
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) return { ok: false, reason: 'BAD_SUBJECT' };
    // Kept only if the keys it verified with are still the keys in use: a reload while jose was verifying must not be undone.
    if (keys === keysUsed) verified.remember(token, sub, (exp as number) + CLOCK_TOLERANCE_SEC);
    return { ok: true, userId: sub };
  };

  const describe = () =>
    `${keys.describe}; issuer ${options.issuer === undefined ? 'not checked (--jwt-issuer)' : JSON.stringify(options.issuer)}, audience ${options.audience === undefined ? 'not checked (--jwt-audience)' : JSON.stringify(options.audience)}`;

  return {
    identify,
    reload: async () => {
      keys = await loadKeys(options.keys, checks);
      verified.clear();
    },
    describe,
  };
};
