import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, errors, importJWK, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { createHs256Verifier, type ClaimChecks, type TokenVerdict } from './hs256-jwt.js';
import type { AuthRefusal } from './identity.js';

/**
 * The keys `serve --auth jwt` verifies buyers' tokens with, from where the
 * flags say: a shared secret (HS256), one public key in a PEM file (RS256 or
 * ES256), or a JWKS file of public keys (rotation: the login service signs
 * with the newest, both verify until the old one is removed). Files are read
 * again on reload; a file that does not load leaves the keys in use as they
 * were and says why.
 */

export type KeySource = { kind: 'secret'; secret: string } | { kind: 'public-key'; file: string } | { kind: 'jwks'; file: string };

export interface VerificationKeys {
  /**
   * The token's claims, or why it is refused, checked with these keys and
   * only these keys' algorithms (a token naming another — none, HS256
   * against a public key — is refused) and the claims `checks` names, at
   * `nowSec`: synchronously for the shared secret (hs256-jwt.ts), by jose's
   * jwtVerify for public keys.
   */
  verify(token: string, nowSec: number): TokenVerdict | Promise<TokenVerdict>;
  /** for the start-up and reload log lines */
  describe: string;
}

export class KeyLoadError extends Error {
  readonly code = 'JWT_KEYS';
}

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits. */
export const MIN_SECRET_BYTES = 32;

/** The asymmetric algorithms a public key (or a JWKS member) may verify, by key type. */
const algorithmOfKey = (type: string | undefined, curve: string | undefined): 'RS256' | 'ES256' | null => {
  if (type === 'rsa' || type === 'RSA') return 'RS256';
  if ((type === 'ec' || type === 'EC') && (curve === 'prime256v1' || curve === 'P-256')) return 'ES256';
  return null;
};

const readText = async (file: string, what: string): Promise<string> => {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new KeyLoadError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
};

/** jose's verdict, as a reason. Anything that is not a jose error is a bug and is thrown on. */
export const refusalOfJoseError = (error: unknown): AuthRefusal => {
  if (error instanceof errors.JWTExpired) return 'EXPIRED';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'WRONG_ISSUER';
    if (error.claim === 'aud') return 'WRONG_AUDIENCE';
    if (error.claim === 'nbf') return 'NOT_YET_VALID';
    if (error.claim === 'sub') return 'BAD_SUBJECT';
    return 'MALFORMED';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'BAD_SIGNATURE';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'BAD_ALGORITHM';
  // A JWKS without that kid, or several keys and a token that names none.
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return 'UNKNOWN_KEY';
  // An algorithm a JWKS cannot serve (HS256 against public keys) is one this server does not accept.
  if (error instanceof errors.JOSENotSupported) return 'BAD_ALGORITHM';
  if (error instanceof errors.JOSEError) return 'MALFORMED';
  throw error;
};

/** jose's jwtVerify as a verdict. */
const verifyWithJose =
  (key: KeyObject | JWTVerifyGetKey, algorithms: string[], checks: ClaimChecks) =>
  async (token: string, nowSec: number): Promise<TokenVerdict> => {
    try {
      const { payload } = await jwtVerify(token, key, { ...checks, algorithms, currentDate: new Date(nowSec * 1000) });
      return { ok: true, claims: payload };
    } catch (error) {
      return { ok: false, reason: refusalOfJoseError(error) };
    }
  };

const fromSecret = (secret: string, checks: ClaimChecks): VerificationKeys => {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_SECRET_BYTES) throw new KeyLoadError(`the HS256 secret must be at least ${MIN_SECRET_BYTES} bytes (it has ${bytes})`);
  // One key object for the life of the keys: node:crypto takes it as is for every HMAC.
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return {
    verify: createHs256Verifier(key, checks),
    describe: 'HS256 with the shared secret (--jwt-secret or SECKILL_JWT_SECRET; a restart changes it)',
  };
};

const fromPublicKeyFile = async (file: string, checks: ClaimChecks): Promise<VerificationKeys> => {
  const pem = await readText(file, '--jwt-public-key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new KeyLoadError(`--jwt-public-key ${file} is not a PEM public key: ${(error as Error).message}`);
  }
  // A private key given by mistake parses as its public half; the file itself must not hold a secret worth stealing.
  if (/PRIVATE KEY/.test(pem)) throw new KeyLoadError(`--jwt-public-key ${file} holds a private key: give the public key only`);
  const algorithm = algorithmOfKey(key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve);
  if (algorithm === null)
    throw new KeyLoadError(`--jwt-public-key ${file}: an RSA key (RS256) or an EC P-256 key (ES256) is needed, got ${key.asymmetricKeyType}`);
  return {
    verify: verifyWithJose(key, [algorithm], checks),
    describe: `${algorithm} with the public key of ${file}`,
  };
};

const JWKS_ALGORITHMS = ['RS256', 'ES256'];

const fromJwksFile = async (file: string, checks: ClaimChecks): Promise<VerificationKeys> => {
  const text = await readText(file, '--jwks');
  let set: unknown;
  try {
    set = JSON.parse(text);
  } catch (error) {
    throw new KeyLoadError(`--jwks ${file} is not JSON: ${(error as Error).message}`);
  }
  const keys = (set as Partial<JSONWebKeySet> | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new KeyLoadError(`--jwks ${file} must be {"keys": [...]} with at least one key`);
  const kids = new Set<string>();
  const algorithms = new Set<string>();
  for (const [i, jwk] of keys.entries()) {
    const where = `--jwks ${file}: keys[${i}]${typeof jwk?.kid === 'string' ? ` (kid ${jwk.kid})` : ''}`;
    if (typeof jwk !== 'object' || jwk === null) throw new KeyLoadError(`${where} is not an object`);
    if ('d' in jwk || 'k' in jwk) throw new KeyLoadError(`${where} holds private or secret key material: a JWKS file gives public keys only`);
    const algorithm = algorithmOfKey(jwk.kty, jwk.crv);
    if (algorithm === null) throw new KeyLoadError(`${where}: an RSA key (RS256) or an EC P-256 key (ES256) is needed, got kty ${JSON.stringify(jwk.kty)}`);
    if (jwk.alg !== undefined && jwk.alg !== algorithm)
      throw new KeyLoadError(`${where}: alg ${JSON.stringify(jwk.alg)} does not fit a ${jwk.kty} key (${algorithm})`);
    // Several keys: each token must say which one signed it, so every kid is needed, once.
    if (keys.length > 1 && (typeof jwk.kid !== 'string' || kids.has(jwk.kid)))
      throw new KeyLoadError(`${where}: with several keys each needs a kid of its own`);
    if (typeof jwk.kid === 'string') kids.add(jwk.kid);
    try {
      // Imported now, so a broken key fails the load (and a reload keeps the old set) rather than the first buyer it would verify.
      await importJWK(jwk, algorithm);
    } catch (error) {
      throw new KeyLoadError(`${where} does not import: ${(error as Error).message}`);
    }
    algorithms.add(algorithm);
  }
  const keySet = createLocalJWKSet({ keys });
  return {
    // Both asymmetric algorithms, whatever the set holds today: the set picks a key by kid and type, so a token of a
    // key removed in a rotation is refused for its key (UNKNOWN_KEY), not its algorithm. HS256 never: no secret here.
    verify: verifyWithJose(keySet, JWKS_ALGORITHMS, checks),
    describe: `${[...algorithms].join('/')} with the ${keys.length} key(s) of ${file}${kids.size ? ` (kid ${[...kids].join(', ')})` : ''}`,
  };
};

/** Loads the keys a source names, to verify tokens by `checks`; KeyLoadError says what is wrong with them. */
export const loadKeys = (source: KeySource, checks: ClaimChecks): Promise<VerificationKeys> => {
  switch (source.kind) {
    case 'secret':
      return Promise.resolve().then(() => fromSecret(source.secret, checks));
    case 'public-key':
      return fromPublicKeyFile(source.file, checks);
    case 'jwks':
      return fromJwksFile(source.file, checks);
  }
};
