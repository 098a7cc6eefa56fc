import type { ChainableCommander } from 'ioredis';

/**
 * Runs a MULTI and returns each command's reply. ioredis resolves `exec()`
 * with an [error, reply] pair per command and null when the transaction was
 * aborted: here any of those is an error, so a half-failed transaction is
 * never taken for a done one.
 */
export const execAll = async (multi: ChainableCommander): Promise<unknown[]> => {
  const results = await multi.exec();
  if (results === null) throw new Error('Redis transaction aborted');
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
};
