import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createBuyerTokens, IMPOSTOR_KINDS } from '../../../src/bench/load/buyer-tokens.js';
import { createJwtAuthenticator } from '../../../src/gateway/identity.js';

/**
 * The bench signs its buyers' tokens by hand (synchronously, for autocannon):
 * jose and the gateway's verifier must take the honest ones, and the gateway
 * refuse each impostor's for the reason its kind names.
 */

const jwt = { secret: 'bench-secret-of-at-least-32-bytes-long', issuer: 'seckill-bench-login', audience: 'seckill' };
const tokens = createBuyerTokens(jwt);
const raw = (header: string | null) => header!.slice('Bearer '.length);

describe('bench buyer tokens', () => {
  it('signs an honest buyer a token jose verifies, for their user id, once', async () => {
    const header = tokens.honest('u42');
    const { payload, protectedHeader } = await jwtVerify(raw(header), new TextEncoder().encode(jwt.secret), {
      issuer: jwt.issuer,
      audience: jwt.audience,
      algorithms: ['HS256'],
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('u42');
    expect(payload.exp! - payload.iat!).toBe(3_600);
    expect(tokens.honest('u42')).toBe(header);
  });

  it("gives each impostor kind a token the gateway refuses for that kind's reason (other-user: a valid token of its own)", async () => {
    const auth = await createJwtAuthenticator({ keys: { kind: 'secret', secret: jwt.secret }, issuer: jwt.issuer, audience: jwt.audience });
    const verdicts = Object.fromEntries(
      await Promise.all(IMPOSTOR_KINDS.map(async (kind) => [kind, await auth.identify(tokens.impostor(kind, 'fake7') ?? undefined)] as const)),
    );
    expect(verdicts).toEqual({
      missing: { ok: false, reason: 'MISSING' },
      expired: { ok: false, reason: 'EXPIRED' },
      forged: { ok: false, reason: 'BAD_SIGNATURE' },
      'wrong-audience': { ok: false, reason: 'WRONG_AUDIENCE' },
      'wrong-issuer': { ok: false, reason: 'WRONG_ISSUER' },
      'other-user': { ok: true, userId: 'fake7' },
    });
  });
});
