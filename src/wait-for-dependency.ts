import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Connecting at start-up to a dependency that may be down for a while: a
 * supervisor restarting a process during a Redis, MySQL or Kafka outage must
 * not see it exit at once, again and again. Errors that mean "not there yet"
 * are waited out with a logged, bounded backoff, up to `timeoutMs`; errors
 * that mean "wrong" (a host name that does not resolve, refused credentials,
 * a bad setting) fail at once, and a dependency that never answers fails
 * clearly when the time is up.
 */
export interface WaitOptions {
  /** give up after this long (0: one attempt) */
  timeoutMs: number;
  log: (line: string) => void;
}

/** Errors no wait can fix. */
const PERMANENT = [
  'ENOTFOUND', // the host name does not resolve: a wrong address
  'WRONGPASS',
  'NOAUTH',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'CONFIG',
];

const codesOf = (error: unknown): string[] => {
  const codes: string[] = [];
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string') codes.push(e.code);
    if (typeof e.message === 'string') codes.push(...PERMANENT.filter((p) => (e.message as string).includes(p)));
  }
  return codes;
};

export const isPermanent = (error: unknown): boolean => codesOf(error).some((code) => PERMANENT.includes(code));

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

export const waitForDependency = async <T>(name: string, connect: () => Promise<T>, { timeoutMs, log }: WaitOptions): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1, backoff = FIRST_BACKOFF_MS; ; attempt++, backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)) {
    try {
      const connected = await connect();
      if (attempt > 1) log(`${name}: connected after ${attempt} attempts`);
      return connected;
    } catch (error) {
      const message = (error as Error).message;
      if (isPermanent(error)) throw error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(timeoutMs > 0 ? `${name} did not answer within ${Math.round(timeoutMs / 1000)} s (--wait): ${message}` : message);
      const pause = Math.min(backoff, left);
      log(`${name} not reachable (attempt ${attempt}): ${message}; trying again in ${pause} ms, for up to ${Math.ceil(left / 1000)} s more`);
      await sleep(pause);
    }
  }
};
