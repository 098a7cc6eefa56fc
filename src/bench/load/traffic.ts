import { createPurchaseTokens } from '../../gateway/purchase-token.js';
import { createBuyerTokens, IMPOSTOR_KINDS, type JwtTraffic } from './buyer-tokens.js';
import type { LoadPlan, TrafficMix } from './load-plan.js';
import { seededRandom } from '../random.js';
import type { Scenario } from '../scenario.js';

/** The keys a run signs with: the purchase-token secret (--require-token) and the login's (--auth jwt), each null when off. */
export interface RunKeys {
  tokenSecret: string | null;
  jwt: JwtTraffic | null;
}

/** The crowd a scenario describes, as the load generator needs it. */
export const trafficOf = (scenario: Scenario, keys: RunKeys): TrafficMix => ({
  skus: scenario.skus.map((s) => ({ sku: s.sku, weight: s.weight })),
  buyers: scenario.buyers,
  qty: scenario.qty,
  ...scenario.bots,
  tokenSecret: scenario.tokens ? keys.tokenSecret : null,
  jwt: keys.jwt,
});

/**
 * What the load generator is asked to send to `url`: the scenario's load,
 * with any overrides, and its crowd; `opensAt`, when a scheduled sale opens.
 */
export const loadPlanOf = (url: string, scenario: Scenario, overrides: Partial<Scenario['load']>, seed: number, keys: RunKeys, opensAt?: number): LoadPlan => {
  const load = { ...scenario.load, ...overrides };
  const plan: LoadPlan = {
    url,
    connections: load.connections,
    amount: load.requests,
    durationSec: load.durationSec,
    ...(load.rate !== null && { rate: load.rate }),
    ...(load.arrival !== null && { arrival: load.arrival }),
    ...(load.maxInFlight !== null && { maxInFlight: load.maxInFlight }),
    seed,
    traffic: trafficOf(scenario, keys),
  };
  return opensAt === undefined ? plan : { ...plan, opensAt };
};

export interface BuyAttempt {
  sku: string;
  /** the buyer the request is for: the body's userId, or (an impostor's lie aside) its bearer token's sub */
  userId: string;
  requestId: string;
  body: string;
  /** the Authorization header to send (--auth jwt), or null for none */
  authorization: string | null;
}

/** User ids of impostors (bearer tokens that are expired, forged, for another audience or issuer, or of someone else): `fake<n>`. */
export const IMPOSTOR_PREFIX = 'fake';

/**
 * Generates one buy request after another from the buyer population (`next`):
 * most are first attempts of a random buyer, some are the bots and retries
 * the mix asks for. Bodies are distinct, as real buyers' are. `fresh` is a
 * first attempt of a random buyer, for the buyers whose reply is lost.
 */
export const createTraffic = (mix: TrafficMix, seed: number) => {
  const random = seededRandom(seed);
  const totalWeight = mix.skus.reduce((sum, s) => sum + s.weight, 0);
  const attempts = new Map<number, number>();
  const sent: BuyAttempt[] = [];
  let serial = 0;

  const pickSku = () => {
    let r = random() * totalWeight;
    for (const s of mix.skus) if ((r -= s.weight) < 0) return s.sku;
    return mix.skus[mix.skus.length - 1].sku;
  };
  const tokens = mix.tokenSecret === null ? null : createPurchaseTokens({ secret: mix.tokenSecret, ttlMs: 3_600_000 });
  const logins = mix.jwt === null ? null : createBuyerTokens(mix.jwt);
  /** A signed-in user's Authorization header, when the sale checks who buyers are. */
  const signedIn = (userId: string) => logins?.honest(userId) ?? null;
  /** `token`: null sends none; left out, an honest buyer's valid token when the sale requires one. */
  const body = (sku: string, userId: string, requestId: string, token: string | null | undefined = tokens?.issue(sku, userId).token) =>
    `{"sku":"${sku}","userId":"${userId}","qty":${mix.qty},"requestId":"${requestId}"${token == null ? '' : `,"token":"${token}"`}}`;

  const fresh = (user: number, sku: string): BuyAttempt => {
    const n = (attempts.get(user) ?? 0) + 1;
    attempts.set(user, n);
    const userId = `u${user}`;
    const requestId = `${userId}-r${n}`;
    const attempt = { sku, userId, requestId, body: body(sku, userId, requestId), authorization: signedIn(userId) };
    // Keep a bounded sample to retry from.
    if (sent.length < 10_000) sent.push(attempt);
    else sent[Math.floor(random() * sent.length)] = attempt;
    return attempt;
  };

  const freshBuyer = () => fresh(Math.floor(random() * mix.buyers), pickSku());

  const next = (): BuyAttempt => {
    const r = random();
    let edge = mix.retries;
    // Nothing sent yet to retry or hammer past: a first attempt, never a fall into the kinds below.
    if (r < mix.retries + mix.hammer && sent.length === 0) return freshBuyer();
    if (r < edge) return sent[Math.floor(random() * sent.length)];
    if (r < (edge += mix.hammer)) {
      const earlier = sent[Math.floor(random() * sent.length)];
      return fresh(Number(earlier.userId.slice(1)), earlier.sku);
    }
    if (r < (edge += mix.unknownSku)) {
      const userId = `u${serial++}`;
      return { sku: 'no-such-sku', userId, requestId: `${userId}-x`, body: body('no-such-sku', userId, `${userId}-x`), authorization: signedIn(userId) };
    }
    if (r < (edge += mix.badBody)) return { sku: '', userId: '', requestId: '', body: '{"sku": "broken', authorization: null };
    if (r < (edge += mix.noToken)) {
      // A bot posting straight to /reserve (signed in as itself, when the sale checks): no purchase token, or a forged one.
      const sku = pickSku();
      const userId = `bot${serial++}`;
      const forged = random() < 0.5 ? null : `${Date.now() + 60_000}.${'A'.repeat(43)}`;
      return { sku, userId, requestId: `${userId}-r1`, body: body(sku, userId, `${userId}-r1`, forged), authorization: signedIn(userId) };
    }
    if (logins && r < (edge += mix.badIdentity)) {
      // An impostor: a bearer token that must not let it in, each kind in turn. The other-user kind is signed in
      // as itself and names an honest buyer in the body. Each carries a valid purchase token for the buyer it
      // claims to be (as a token route that did not check the bearer would hand out), so only the identity
      // check stands between it and the stock.
      const kind = IMPOSTOR_KINDS[serial % IMPOSTOR_KINDS.length];
      const sub = `${IMPOSTOR_PREFIX}${serial++}`;
      const userId = kind === 'other-user' ? `u${Math.floor(random() * mix.buyers)}` : sub;
      const requestId = `${sub}-${kind}`;
      const sku = pickSku();
      return { sku, userId, requestId, body: body(sku, userId, requestId), authorization: logins.impostor(kind, sub) };
    }
    return freshBuyer();
  };
  return { next, fresh: freshBuyer };
};
