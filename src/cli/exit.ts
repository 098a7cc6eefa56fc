/**
 * Exit codes every command shares: 0 ok, 1 an invariant broke, 2 usage or
 * set-up error; and bench's 99, a threshold broke while every invariant held
 * (k6's code for a broken threshold, so a CI that knows k6 reads it alike).
 */
export const EXIT = { OK: 0, INVARIANT: 1, USAGE: 2, THRESHOLD: 99 } as const;

export class UsageError extends Error {
  readonly code = 'USAGE';
}

/**
 * Runs a command's action: an error ends the process with a one-line message
 * (the stack only with DEBUG=seckill) and exit code 2, since what reaches here
 * is a bad flag or an unreachable dependency. It ends it for sure: a
 * connection opened before the failure (Redis, a Kafka client still retrying)
 * would otherwise keep a process that will never be ready alive, and whoever
 * started it waiting for ever.
 */
export const runAction =
  <A extends unknown[]>(action: (...args: A) => Promise<number | void>) =>
  async (...args: A): Promise<void> => {
    try {
      const code = await action(...args);
      process.exitCode = code ?? EXIT.OK;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`seckill: ${message}\n`);
      if (process.env.DEBUG?.includes('seckill') && error instanceof Error) process.stderr.write(`${error.stack}\n`);
      // stderr is written synchronously to files and pipes on Linux: the message is out before the exit.
      process.exit(EXIT.USAGE);
    }
  };
