/**
 * Runs `work` on every item, at most `limit` at a time, in order of start.
 * After a failure no new item is started; those running finish, then the
 * first error is thrown (so a caller that retries the whole never has work
 * of its still running behind its back).
 */
export const eachConcurrently = async <T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (next < items.length && failure === null) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
};
