import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { AuthRefusal } from './identity.js';

/**
 * An HS256 JWT verified synchronously with node:crypto, where jose's
 * jwtVerify goes through async WebCrypto (65-150 µs a token, most of it the
 * promise machinery around an HMAC of a few hundred bytes, ~3 µs). Every
 * buyer of `serve --auth jwt` with a shared secret pays it, so it is the
 * price of sign-in.
 *
 * It answers as jwtVerify does with `algorithms: ['HS256']` and these
 * checks — the same checks in the same order, so the same refusal reason
 * (test/gateway/hs256-jwt.test.ts holds it to jose over generated tokens) —
 * and is stricter in three places, each a token no login issues:
 * - base64url strictly: no `=` padding, no spaces, no stray bits past the
 *   last byte (jose's atob takes all three), so a token has one spelling;
 * - `typ`, when present, must be JWT (jose does not look);
 * - no `crit`: this server understands no extension (jose takes `b64`).
 * The first two are refused MALFORMED; a `crit` BAD_ALGORITHM, as jose
 * refuses an extension it does not know (MALFORMED when it is not a list of
 * names, as jose).
 */

/** What a token must carry, as jose's JWTVerifyOptions names it (so the jose path takes it as is). */
export interface ClaimChecks {
  /** claims that must be present */
  requiredClaims: string[];
  /** seconds past `exp` (and before `nbf`) a token is still taken */
  clockTolerance: number;
  /** the `iss` a token must carry; unset, any */
  issuer?: string;
  /** an `aud` a token must carry (one of its array's); unset, any */
  audience?: string;
}

export type Claims = Record<string, unknown>;

export type TokenVerdict = { ok: true; claims: Claims } | { ok: false; reason: AuthRefusal };

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Fatal on bad UTF-8, as jose's: a header or claims set that is not text is not JSON either. */
const utf8 = new TextDecoder('utf-8', { fatal: true });
const HS256_BYTES = 32;

const refused = (reason: AuthRefusal): TokenVerdict => ({ ok: false, reason });

/** The bytes of a base64url segment, or null when it is not one in its one canonical spelling. */
const decodeStrict = (segment: string): Buffer | null => {
  if (!BASE64URL.test(segment)) return null;
  const bytes = Buffer.from(segment, 'base64url');
  // Node's decoder skips what it cannot read; encoding back says whether anything was skipped, padded or left over.
  return bytes.toString('base64url') === segment ? bytes : null;
};

/** A JSON object from base64url, or null. */
const jsonObject = (segment: string): Claims | null => {
  const bytes = decodeStrict(segment);
  if (bytes === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Claims) : null;
};

const isJwtType = (typ: unknown): boolean => {
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  const lower = typ.toLowerCase();
  return lower === 'jwt' || lower === 'application/jwt';
};

/** jose's reason for a `crit`: one it cannot read is a malformed token, one it can read names an extension not supported. */
const critRefusal = (crit: unknown): AuthRefusal =>
  Array.isArray(crit) && crit.length > 0 && crit.every((name) => typeof name === 'string' && name.length > 0) ? 'BAD_ALGORITHM' : 'MALFORMED';

/** Which claim a missing one is refused for, as identity maps jose's claim names. */
const MISSING_CLAIM: Record<string, AuthRefusal> = { iss: 'WRONG_ISSUER', aud: 'WRONG_AUDIENCE', sub: 'BAD_SUBJECT' };

/** jose's validateClaimsSet, for the checks identity makes. */
const checkClaims = (claims: Claims, checks: ClaimChecks, nowSec: number): TokenVerdict => {
  // jose looks for missing claims in this order: the ones its options imply (iss, aud), last pushed first, then the required ones backwards.
  const present = [...checks.requiredClaims];
  if (checks.audience !== undefined) present.push('aud');
  if (checks.issuer !== undefined) present.push('iss');
  for (const claim of new Set(present.reverse())) if (!Object.hasOwn(claims, claim)) return refused(MISSING_CLAIM[claim] ?? 'MALFORMED');
  if (checks.issuer !== undefined && claims.iss !== checks.issuer) return refused('WRONG_ISSUER');
  if (checks.audience !== undefined) {
    const aud = claims.aud;
    if (!(aud === checks.audience || (Array.isArray(aud) && aud.includes(checks.audience)))) return refused('WRONG_AUDIENCE');
  }
  const { iat, nbf, exp } = claims;
  if (iat !== undefined && typeof iat !== 'number') return refused('MALFORMED');
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSec + checks.clockTolerance)) return refused('NOT_YET_VALID');
  if (exp !== undefined) {
    if (typeof exp !== 'number') return refused('MALFORMED');
    if (exp <= nowSec - checks.clockTolerance) return refused('EXPIRED');
  }
  return { ok: true, claims };
};

/**
 * A verifier of compact HS256 JWTs signed with `key`: the claims, or why not.
 * `nowSec` is the time the claims are checked at (whole seconds, as jose).
 */
export const createHs256Verifier =
  (key: KeyObject, checks: ClaimChecks) =>
  (token: string, nowSec: number): TokenVerdict => {
    const firstDot = token.indexOf('.');
    const secondDot = token.indexOf('.', firstDot + 1);
    if (firstDot === -1 || secondDot === -1 || token.indexOf('.', secondDot + 1) !== -1) return refused('MALFORMED');
    const header = jsonObject(token.slice(0, firstDot));
    if (header === null) return refused('MALFORMED');
    if (header.crit !== undefined) return refused(critRefusal(header.crit));
    if (typeof header.alg !== 'string' || header.alg === '') return refused('MALFORMED');
    if (header.alg !== 'HS256') return refused('BAD_ALGORITHM');
    if (!isJwtType(header.typ)) return refused('MALFORMED');
    const signingInput = token.slice(0, secondDot);
    // The signature covers the payload as sent, so the payload is read only once it verifies; jose refuses a non-ASCII one first.
    // (One UTF-8 byte per character is ASCII.)
    if (Buffer.byteLength(signingInput, 'utf8') !== signingInput.length) return refused('MALFORMED');
    const signature = decodeStrict(token.slice(secondDot + 1));
    if (signature === null) return refused('MALFORMED');
    const expected = createHmac('sha256', key).update(signingInput, 'latin1').digest();
    // The length is no secret (every HS256 signature has 32 bytes); the bytes are compared in constant time.
    if (signature.length !== HS256_BYTES || !timingSafeEqual(signature, expected)) return refused('BAD_SIGNATURE');
    const claims = jsonObject(token.slice(firstDot + 1, secondDot));
    if (claims === null) return refused('MALFORMED');
    return checkClaims(claims, checks, nowSec);
  };
