import { readFile } from 'node:fs/promises';

/**
 * The pid a local runner (the Kafka broker, a Redis Cluster node) recorded in
 * `pidFile`, if that process is alive and still the one it started: a pid may
 * be reused, so its command line must contain `marker`. Without /proc (macOS)
 * the signal check is trusted; an exited child not yet reaped has an empty
 * command line, so it counts as gone.
 */
export const recordedPid = async (pidFile: string, marker: string): Promise<number | null> => {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return cmdline === null || cmdline.includes(marker) ? pid : null;
};
