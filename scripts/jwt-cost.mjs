// µs per bearer token verified, one after another on one core, for what
// `serve --auth jwt` with a shared secret has done per request: jose's
// jwtVerify (async WebCrypto), the synchronous node:crypto verifier
// (src/gateway/hs256-jwt.ts), and the whole identify() of a token verified
// before (src/gateway/verified-tokens.ts), next to identify() of new tokens.
// Each over N distinct tokens shaped like the bench's; each figure the best
// of REPEATS runs (on a shared machine the least disturbed run is the
// closest to the cost itself).
//
//   npx tsc -p tsconfig.json && node scripts/jwt-cost.mjs        (N=20000 REPEATS=5 by default)
import { createHmac, createSecretKey } from 'node:crypto';
import { jwtVerify } from 'jose';
import { createHs256Verifier } from '../dist/gateway/hs256-jwt.js';
import { claimChecksOf, createJwtAuthenticator } from '../dist/gateway/identity.js';

const N = Number(process.env.N ?? 20000);
const REPEATS = Number(process.env.REPEATS ?? 5);
const SECRET = 'jwt-cost-secret-of-at-least-32-bytes!!';
const ISSUER = 'seckill-bench-login';
const AUDIENCE = 'seckill';
const key = createSecretKey(Buffer.from(SECRET));
const checks = claimChecksOf({ issuer: ISSUER, audience: AUDIENCE });

const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const nowSec = Math.floor(Date.now() / 1000);
const tokenOf = (sub) => {
  const claims = { sub, iss: ISSUER, aud: AUDIENCE, iat: nowSec, exp: nowSec + 3600 };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
};
let batch = 0;
/** N tokens no verifier has seen. */
const freshTokens = () => Array.from({ length: N }, (_, i) => tokenOf(`buyer-${batch}-${i}`), batch++);

const best = async (run) => {
  let fastest = Infinity;
  for (let r = 0; r < REPEATS; r++) {
    const tokens = freshTokens();
    const started = process.hrtime.bigint();
    await run(tokens);
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - started) / 1e3 / N);
  }
  return fastest;
};

const expectOk = (ok) => {
  if (!ok) throw new Error('a token the benchmark signed did not verify: the figures would be of refusals');
};

const jose = await best(async (tokens) => {
  for (const token of tokens) expectOk((await jwtVerify(token, key, { ...checks, algorithms: ['HS256'] })).payload.sub !== undefined);
});
const verify = createHs256Verifier(key, checks);
const sync = await best(async (tokens) => {
  for (const token of tokens) expectOk(verify(token, nowSec).ok);
});
const auth = await createJwtAuthenticator({ keys: { kind: 'secret', secret: SECRET }, issuer: ISSUER, audience: AUDIENCE });
const identifyNew = await best(async (tokens) => {
  for (const token of tokens) expectOk((await auth.identify(`Bearer ${token}`)).ok);
});
const identifyKept = await best(async (tokens) => {
  for (const token of tokens.slice(0, 1000)) await auth.identify(`Bearer ${token}`);
  for (let i = 0; i < N; i++) expectOk((await auth.identify(`Bearer ${tokens[i % 1000]}`)).ok);
});

const rows = [
  ['jose jwtVerify (async WebCrypto)', jose],
  ['hs256-jwt.ts (node:crypto, sync)', sync],
  ['identify(), a new token', identifyNew],
  ['identify(), a token verified before', identifyKept],
];
console.log(`µs per token, best of ${REPEATS} runs of ${N} (node ${process.version}):`);
for (const [name, us] of rows) console.log(`  ${name.padEnd(38)} ${us.toFixed(2).padStart(7)}`);
