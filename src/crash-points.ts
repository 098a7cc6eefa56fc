/**
 * Named places where a process can be made to die on purpose, to prove that
 * a crash there loses and doubles nothing. `SECKILL_CRASH_AT=<name>` makes the
 * process kill itself with SIGKILL (no cleanup, as in a real crash) the first
 * time it passes that place. Unset, a crash point costs one comparison.
 */
export type CrashPoint =
  'relay:after-read' | 'relay:after-publish' | 'consumer:after-commit' | 'consumer:after-dead-letter' | 'sweeper:after-cancel' | 'transfer:between-steps';

const armed = process.env.SECKILL_CRASH_AT;

export const crashPoint = (name: CrashPoint): void => {
  if (armed === name) {
    process.stderr.write(`SECKILL_CRASH_AT=${name}: dying here\n`);
    process.kill(process.pid, 'SIGKILL');
  }
};
