import { createHmac, createSecretKey } from 'node:crypto';
import fc from 'fast-check';
import { jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createHs256Verifier, type TokenVerdict } from '../../src/gateway/hs256-jwt.js';
import { claimChecksOf } from '../../src/gateway/identity.js';
import { refusalOfJoseError } from '../../src/gateway/jwt-keys.js';

/**
 * The synchronous HS256 verifier against jose's jwtVerify, which the gateway
 * used before it and still uses for public keys: for every token either
 * would meet — valid, expired, not yet valid, another algorithm, another key,
 * a tampered payload or signature, bad base64url, another issuer or audience,
 * no sub — both take it with the same claims or refuse it for the same
 * reason. Where it is stricter than jose on purpose, the cases say so.
 */

const SECRET = 'hs256-test-secret-of-at-least-32-bytes';
const OTHER_SECRET = 'another-secret-of-at-least-32-bytes-!!';
const ISSUER = 'https://login.test';
const AUDIENCE = 'seckill';
const NOW = 1_800_000_000;
const key = createSecretKey(Buffer.from(SECRET));

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const hmac = (secret: string, input: string) => createHmac('sha256', secret).update(input).digest();

type Checks = { issuer?: string; audience?: string };

const ours = (token: string, checks: Checks): TokenVerdict => createHs256Verifier(key, claimChecksOf(checks))(token, NOW);

const jose = async (token: string, checks: Checks): Promise<TokenVerdict> => {
  try {
    const { payload } = await jwtVerify(token, key, { ...claimChecksOf(checks), algorithms: ['HS256'], currentDate: new Date(NOW * 1000) });
    return { ok: true, claims: payload };
  } catch (error) {
    return { ok: false, reason: refusalOfJoseError(error) };
  }
};

// --- generated tokens --------------------------------------------------------

/** A claim left out, or one of these values. */
const claim = <T>(...values: fc.Arbitrary<T>[]) => fc.option(fc.oneof(...values), { nil: undefined, freq: 4 });
/** Seconds around now, the tolerance's edges (5 s) included, and the odd non-number. */
const time = claim(
  fc.integer({ min: NOW - 20, max: NOW + 20 }),
  fc.constantFrom(NOW - 3_600, NOW + 3_600, NOW - 5.5, NOW + 5.5),
  fc.constantFrom<unknown>('soon', null, [NOW]),
);

const claimsSet = fc.record(
  {
    sub: claim(fc.constantFrom('alice', 'u-42', 'x'.repeat(65), 'u/1', ''), fc.constantFrom<unknown>(42, null)),
    iss: claim(fc.constantFrom(ISSUER, 'https://evil.test', ''), fc.constantFrom<unknown>(7, [ISSUER])),
    aud: claim(fc.constantFrom<unknown>(AUDIENCE, 'other', [AUDIENCE], ['other', AUDIENCE], ['other'], [], 7, null)),
    exp: time,
    nbf: time,
    iat: time,
    jti: claim(fc.string({ maxLength: 8 })),
  },
  { requiredKeys: [] },
);

/** Claims a login issues (bar exp and nbf near their edges), for the accepted tokens among the generated. */
const loginClaims = fc
  .record({
    sub: fc.constantFrom('alice', 'u-42'),
    exp: fc.integer({ min: NOW - 10, max: NOW + 3_600 }),
    nbf: claim(fc.integer({ min: NOW - 60, max: NOW + 10 })),
  })
  .map((c) => ({ ...c, iss: ISSUER, aud: AUDIENCE, iat: NOW - 60 }));

/** Headers jose and ours read alike: `typ` JWT or none, never `crit` (see the stricter cases below). */
const header = fc.record(
  {
    alg: claim(fc.constantFrom<unknown>('HS256', 'HS256', 'HS256', 'HS384', 'RS256', 'ES256', 'none', 'hs256', '', 256, null)),
    typ: claim(fc.constantFrom('JWT', 'jwt', 'application/jwt')),
    kid: claim(fc.string({ maxLength: 6 })),
  },
  { requiredKeys: [] },
);

/** What happens to a signed token on its way. */
const mutation = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('other-claims' as const), claims: claimsSet }),
  fc.record({ kind: fc.constant('flip-signature-bit' as const), bit: fc.nat(255) }),
  fc.record({ kind: fc.constant('cut-signature' as const), bytes: fc.nat(32) }),
  fc.record({
    kind: fc.constant('bad-base64' as const),
    segment: fc.nat(2),
    at: fc.nat(),
    char: fc.constantFrom('~', '+', '/', '!', '*', 'é', '%', '\u0001'),
  }),
  // Header or payload: a signature one character short is a spelling with stray bits, which the stricter cases hold.
  fc.record({ kind: fc.constant('cut-char' as const), segment: fc.nat(1), at: fc.nat() }),
  fc.record({ kind: fc.constant('parts' as const), keep: fc.constantFrom(1, 2, 4) }),
  fc.record({ kind: fc.constant('raw-header' as const), text: fc.constantFrom('', 'null', '[]', '"HS256"', '{"alg":"HS256"', 'not json') }),
  fc.record({ kind: fc.constant('raw-payload' as const), text: fc.constantFrom('', 'null', '[]', '42', '{"sub":', 'not json'), signed: fc.boolean() }),
);

const tokenCase = fc.record({
  header: fc.oneof(header, fc.constant({ alg: 'HS256', typ: 'JWT' })),
  claims: fc.oneof(claimsSet, loginClaims),
  secret: fc.constantFrom(SECRET, SECRET, SECRET, OTHER_SECRET),
  mutation: fc.oneof({ arbitrary: mutation, weight: 2 }, { arbitrary: fc.constant({ kind: 'none' as const }), weight: 1 }),
  checks: fc.record({ issuer: claim(fc.constant(ISSUER)), audience: claim(fc.constant(AUDIENCE)) }, { requiredKeys: [] }),
});

type TokenCase = typeof tokenCase extends fc.Arbitrary<infer T> ? T : never;

/** The token a case describes: signed as its header says (HMAC with its secret), then changed by its mutation. */
const tokenOf = ({ header, claims, secret, mutation }: TokenCase): string => {
  let h = b64(JSON.stringify(header));
  let p = b64(JSON.stringify(claims));
  let s = hmac(secret, `${h}.${p}`);
  switch (mutation.kind) {
    case 'none':
      break;
    case 'other-claims':
      p = b64(JSON.stringify(mutation.claims));
      break;
    case 'flip-signature-bit':
      s = Buffer.from(s);
      s[mutation.bit >> 3] ^= 1 << (mutation.bit & 7);
      break;
    case 'cut-signature':
      s = s.subarray(0, mutation.bytes);
      break;
    case 'raw-header':
      h = b64(mutation.text);
      s = hmac(secret, `${h}.${p}`);
      break;
    case 'raw-payload':
      p = b64(mutation.text);
      if (mutation.signed) s = hmac(secret, `${h}.${p}`);
      break;
    case 'bad-base64':
    case 'cut-char': {
      const parts = [h, p, s.toString('base64url')];
      const segment = parts[mutation.segment];
      const at = mutation.at % (segment.length + 1);
      parts[mutation.segment] = segment.slice(0, at) + (mutation.kind === 'bad-base64' ? mutation.char : '') + segment.slice(at + 1);
      // The payload changed after signing or not: both are tokens a bot could send.
      return parts.join('.');
    }
    case 'parts':
      return [h, p, s.toString('base64url'), 'extra'].slice(0, mutation.keep).join('.');
  }
  return `${h}.${p}.${s.toString('base64url')}`;
};

describe('the synchronous HS256 verifier', () => {
  it('answers every generated token as jose does: the same claims, or the same refusal reason', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(tokenCase, async (c) => {
        const token = tokenOf(c);
        const expected = await jose(token, c.checks);
        const verdict = expected.ok ? 'ok' : expected.reason;
        seen.set(verdict, (seen.get(verdict) ?? 0) + 1);
        expect(ours(token, c.checks), token).toEqual(expected);
      }),
      { numRuns: 5_000, seed: 25 },
    );
    // The generators reach every verdict the verifier can give, valid tokens included.
    expect([...seen.keys()].sort()).toEqual(
      ['BAD_ALGORITHM', 'BAD_SIGNATURE', 'BAD_SUBJECT', 'EXPIRED', 'MALFORMED', 'NOT_YET_VALID', 'WRONG_AUDIENCE', 'WRONG_ISSUER', 'ok'].sort(),
    );
    expect(seen.get('ok')).toBeGreaterThan(50);
  });

  it('takes a token the shop login signs with jose, and refuses it past exp + the tolerance', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('alice')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 60)
      .sign(key);
    const verify = createHs256Verifier(key, claimChecksOf({ issuer: ISSUER, audience: AUDIENCE }));
    expect(verify(token, NOW)).toMatchObject({ ok: true, claims: { sub: 'alice', exp: NOW + 60 } });
    expect(verify(token, NOW + 64)).toMatchObject({ ok: true });
    expect(verify(token, NOW + 65)).toEqual({ ok: false, reason: 'EXPIRED' });
  });

  it('is stricter than jose where no login differs: base64url padded, with stray bits or spaces; a typ that is not JWT; a crit', async () => {
    const h = b64(JSON.stringify({ alg: 'HS256' }));
    const p = b64(JSON.stringify({ sub: 'alice', exp: NOW + 600 }));
    const signature = hmac(SECRET, `${h}.${p}`).toString('base64url');
    const signedAs = (header: object) => {
      const hh = b64(JSON.stringify(header));
      return `${hh}.${p}.${hmac(SECRET, `${hh}.${p}`).toString('base64url')}`;
    };
    // 32 bytes are 43 characters, the last holding 2 bits of data and 4 that must be 0.
    const lastValue = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(signature[42]);
    const strayBits = signature.slice(0, 42) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastValue | 1];
    const cases = {
      padded: `${h}.${p}.${signature}=`,
      'stray bits': `${h}.${p}.${strayBits}`,
      'a space': `${h}.${p}.${signature.slice(0, 20)} ${signature.slice(20)}`,
      'typ at+jwt': signedAs({ alg: 'HS256', typ: 'at+jwt' }),
    };
    for (const [name, token] of Object.entries(cases)) {
      expect({ name, jose: (await jose(token, {})).ok }).toEqual({ name, jose: true });
      expect({ name, ours: ours(token, {}) }).toEqual({ name, ours: { ok: false, reason: 'MALFORMED' } });
    }
    // crit: jose takes b64 (true) and refuses an extension it does not know as not supported; ours refuses both so.
    const b64Extension = signedAs({ alg: 'HS256', crit: ['b64'], b64: true });
    expect((await jose(b64Extension, {})).ok).toBe(true);
    expect(ours(b64Extension, {})).toEqual({ ok: false, reason: 'BAD_ALGORITHM' });
    const unknownExtension = signedAs({ alg: 'HS256', crit: ['exp'], exp: 1 });
    expect(await jose(unknownExtension, {})).toEqual({ ok: false, reason: 'BAD_ALGORITHM' });
    expect(ours(unknownExtension, {})).toEqual({ ok: false, reason: 'BAD_ALGORITHM' });
  });
});
