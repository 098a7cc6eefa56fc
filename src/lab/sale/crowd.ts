/**
 * The lab's crowd: buyers who arrive on a schedule, send one buy each, and
 * when they are not given an answer (a 5xx, a 429 that asks them to try
 * again, a cut connection, silence) send it again with the same request id,
 * to the other gateway, until they are answered or give up. What each was
 * told in the end is the history the verdict checks against the stores.
 */
import { Agent, request } from 'node:http';

export interface CrowdPlan {
  /** http://address:port of each gateway; buyer i starts at gateway i mod n and moves on at each retry */
  gateways: string[];
  sku: string;
  buyers: number;
  /** the buyers arrive evenly over this long */
  arrivalMs: number;
  /** a buyer not answered this long after their first send gives up */
  giveUpMs: number;
  /** one request's wait for an answer */
  requestTimeoutMs: number;
  /** a prefix for user and request ids, so two runs on one sale never collide */
  runId: string;
}

/** What a buyer was told at the end: an order, a refusal, or nothing (gave up). */
export interface Told {
  userId: string;
  requestId: string;
  /** OK for a 201, the error code of a final refusal, GAVE_UP when never answered */
  outcome: string;
  orderId: string | null;
  /** epoch ms of the final answer (or of giving up) */
  at: number;
  /** epoch ms of the first send */
  sentAt: number;
  attempts: number;
}

export interface CrowdResult {
  told: Told[];
  /** sends that got no final answer, by why (HTTP_503 REDIS_DOWN, TIMEOUT, ECONNRESET, …) */
  retried: Record<string, number>;
}

/** Answers that ask the buyer to come back with the same request id: they decide nothing. */
const TRY_AGAIN = new Set(['REDIS_DOWN', 'MYSQL_DOWN', 'SALE_FROZEN', 'RATE_LIMITED', 'ADMISSION_CLOSED']);
const RETRY_PAUSE_MS = 150;

interface Sent {
  status: number;
  body: string;
}

const post = (agent: Agent, url: string, body: string, timeoutMs: number): Promise<Sent> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}/reserve`, { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end(body);
  });

const errorCodeOf = (body: string): string | null => /"error":"([A-Z_]+)"/.exec(body)?.[1] ?? null;
const orderIdOf = (body: string): string | null => /"orderId":"([^"]+)"/.exec(body)?.[1] ?? null;

export const runCrowd = async (plan: CrowdPlan): Promise<CrowdResult> => {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const retried: Record<string, number> = {};
  const count = (why: string) => (retried[why] = (retried[why] ?? 0) + 1);

  const buyer = async (i: number): Promise<Told> => {
    const userId = `${plan.runId}-u${i}`;
    const requestId = `${plan.runId}-r${i}`;
    const body = JSON.stringify({ sku: plan.sku, userId, qty: 1, requestId });
    const sentAt = Date.now();
    for (let attempt = 0; ; attempt++) {
      const gateway = plan.gateways[(i + attempt) % plan.gateways.length];
      const told = (outcome: string, orderId: string | null): Told => ({ userId, requestId, outcome, orderId, at: Date.now(), sentAt, attempts: attempt + 1 });
      try {
        const { status, body: answer } = await post(agent, gateway, body, plan.requestTimeoutMs);
        const code = status === 201 ? 'OK' : (errorCodeOf(answer) ?? `HTTP_${status}`);
        if (status === 201 || (status < 500 && !TRY_AGAIN.has(code))) return told(code, orderIdOf(answer));
        count(code);
      } catch (error) {
        count((error as NodeJS.ErrnoException).code ?? 'ERROR');
      }
      if (Date.now() - sentAt > plan.giveUpMs) return told('GAVE_UP', null);
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    }
  };

  const started = Date.now();
  const everyone: Promise<Told>[] = [];
  for (let i = 0; i < plan.buyers; i++) {
    const due = started + (i * plan.arrivalMs) / plan.buyers;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    everyone.push(buyer(i));
  }
  const told = await Promise.all(everyone);
  agent.destroy();
  return { told, retried };
};
