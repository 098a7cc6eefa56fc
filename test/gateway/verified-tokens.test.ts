import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { CLOCK_TOLERANCE_SEC, createJwtAuthenticator } from '../../src/gateway/identity.js';
import { VerifiedTokens } from '../../src/gateway/verified-tokens.js';

/**
 * Tokens that verified are taken again without verifying them (until their
 * exp): what is kept must never let in a token that verifying would refuse —
 * one past its exp, one of a key removed by a reload, a tampered copy — and a
 * refusal is never kept.
 */

const SECRET = 'verified-tokens-test-secret-32-bytes!!';
const ISSUER = 'https://login.test';
const AUDIENCE = 'seckill';
const START_SEC = 1_800_000_000;
const dir = mkdtempSync(join(tmpdir(), 'seckill-verified-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An authenticator whose clock the test moves. */
const authenticatorAt = async (keys: Parameters<typeof createJwtAuthenticator>[0]['keys']) => {
  const clock = { nowSec: START_SEC };
  const auth = await createJwtAuthenticator({ keys, issuer: ISSUER, audience: AUDIENCE }, () => clock.nowSec * 1000);
  return { auth, clock };
};

const hsToken = (sub: string, claims: { exp?: number; nbf?: number } = {}) => {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(START_SEC)
    .setExpirationTime(claims.exp ?? START_SEC + 60);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(new TextEncoder().encode(SECRET));
};

const bearer = (token: string) => `Bearer ${token}`;

describe('verified tokens, through the authenticator', () => {
  it('refuses a kept token once it is past its exp (and the clock tolerance), as verifying would', async () => {
    const { auth, clock } = await authenticatorAt({ kind: 'secret', secret: SECRET });
    const token = await hsToken('alice', { exp: START_SEC + 60 });
    expect(await auth.identify(bearer(token))).toEqual({ ok: true, userId: 'alice' });
    clock.nowSec = START_SEC + 60 + CLOCK_TOLERANCE_SEC - 1;
    expect(await auth.identify(bearer(token))).toEqual({ ok: true, userId: 'alice' });
    clock.nowSec = START_SEC + 60 + CLOCK_TOLERANCE_SEC;
    expect(await auth.identify(bearer(token))).toEqual({ ok: false, reason: 'EXPIRED' });
    // And stays refused: the expired entry is gone, not revived.
    expect(await auth.identify(bearer(token))).toEqual({ ok: false, reason: 'EXPIRED' });
  });

  it('refuses a tampered copy of a kept token (another sub, another signature), and still takes the original', async () => {
    const { auth } = await authenticatorAt({ kind: 'secret', secret: SECRET });
    const token = await hsToken('alice');
    expect(await auth.identify(bearer(token))).toEqual({ ok: true, userId: 'alice' });
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const asMallory = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url');
    const otherSignature = Buffer.from(signature, 'base64url').map((byte, i) => (i === 0 ? byte ^ 1 : byte));
    for (const copy of [`${header}.${asMallory}.${signature}`, `${header}.${payload}.${Buffer.from(otherSignature).toString('base64url')}`])
      expect(await auth.identify(bearer(copy))).toEqual({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(await auth.identify(bearer(token))).toEqual({ ok: true, userId: 'alice' });
  });

  it('keeps no refusal: a token not valid yet is taken once its nbf comes, a bad sub stays refused', async () => {
    const { auth, clock } = await authenticatorAt({ kind: 'secret', secret: SECRET });
    const early = await hsToken('bob', { nbf: START_SEC + 30, exp: START_SEC + 600 });
    expect(await auth.identify(bearer(early))).toEqual({ ok: false, reason: 'NOT_YET_VALID' });
    clock.nowSec = START_SEC + 30;
    expect(await auth.identify(bearer(early))).toEqual({ ok: true, userId: 'bob' });
    // Signature and claims verify, the sub is no user id: refused every time, never kept as the buyer "u/1".
    const badSub = await hsToken('u/1');
    for (let i = 0; i < 2; i++) expect(await auth.identify(bearer(badSub))).toEqual({ ok: false, reason: 'BAD_SUBJECT' });
  });

  it('forgets every kept token when the keys are reloaded: a token of a key removed from the JWKS is refused at once', async () => {
    const { publicKey: oldPublic, privateKey: oldPrivate } = await generateKeyPair('ES256', { extractable: true });
    const { publicKey: newPublic } = await generateKeyPair('ES256', { extractable: true });
    const file = join(dir, 'jwks.json');
    const writeJwks = async (...keys: { kid: string; key: CryptoKey }[]) =>
      writeFileSync(file, JSON.stringify({ keys: await Promise.all(keys.map(async ({ kid, key }) => ({ ...(await exportJWK(key)), kid, alg: 'ES256' }))) }));
    await writeJwks({ kid: 'old', key: oldPublic }, { kid: 'new', key: newPublic });
    const { auth } = await authenticatorAt({ kind: 'jwks', file });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'old' })
      .setSubject('carol')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(START_SEC + 600)
      .sign(oldPrivate);
    expect(await auth.identify(bearer(token))).toEqual({ ok: true, userId: 'carol' });
    expect(await auth.identify(bearer(token))).toEqual({ ok: true, userId: 'carol' });

    await writeJwks({ kid: 'new', key: newPublic });
    await auth.reload();
    expect(await auth.identify(bearer(token))).toEqual({ ok: false, reason: 'UNKNOWN_KEY' });
  });
});

describe('VerifiedTokens', () => {
  it('holds at most its capacity, dropping the least recently used', () => {
    const kept = new VerifiedTokens(3);
    for (const token of ['a', 'b', 'c']) kept.remember(token, `user-${token}`, START_SEC + 60);
    // Reading a makes b the oldest.
    expect(kept.get('a', START_SEC)).toBe('user-a');
    kept.remember('d', 'user-d', START_SEC + 60);
    expect(kept.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((token) => kept.get(token, START_SEC))).toEqual(['user-a', undefined, 'user-c', 'user-d']);
  });

  it('answers nothing for a token from the second it expires, and nothing at all once cleared', () => {
    const kept = new VerifiedTokens(10);
    kept.remember('t', 'alice', START_SEC + 65);
    expect(kept.get('t', START_SEC + 64)).toBe('alice');
    expect(kept.get('t', START_SEC + 65)).toBeUndefined();
    kept.remember('u', 'bob', START_SEC + 65);
    kept.clear();
    expect(kept.get('u', START_SEC)).toBeUndefined();
  });
});
