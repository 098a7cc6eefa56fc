import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import mysql from 'mysql2/promise';
import type { Row } from './rows.js';

/**
 * The local TCP ports of a process's connections to a MySQL port, read from
 * /proc (Linux): its socket inodes from /proc/<pid>/fd, their addresses from
 * /proc/<pid>/net/tcp{,6}. MySQL sees the same port in its processlist's Host
 * column, so bench can kill exactly that process's connections and nobody
 * else's (other processes, other sales, other test runs on the same server).
 */
const portsToMysql = async (pid: number, mysqlPort: number): Promise<Set<number>> => {
  if (!existsSync('/proc/self/fd')) throw new Error("kill-mysql-connections finds the consumer's connections in /proc: Linux only");
  const inodes = new Set<string>();
  // A process that has just exited (killed by another fault) holds no connection.
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]);
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9])) continue;
      const localPort = parseInt(f[1].split(':')[1], 16);
      const remotePort = parseInt(f[2].split(':')[1], 16);
      if (remotePort === mysqlPort) ports.add(localPort);
    }
  }
  return ports;
};

/** One connection of bench's own, used only to KILL the connections of a process it started. */
export interface ConnectionKiller {
  /** KILLs every MySQL connection the process `pid` holds now; resolves with how many */
  killConnectionsOf(pid: number): Promise<number>;
  close(): Promise<void>;
}

export const openConnectionKiller = async (url: string): Promise<ConnectionKiller> => {
  const parsed = new URL(url);
  const port = Number(parsed.port || 3306);
  const conn = await mysql.createConnection({
    host: parsed.hostname,
    port,
    user: decodeURIComponent(parsed.username || 'root'),
    password: decodeURIComponent(parsed.password),
    connectTimeout: 3_000,
  });
  return {
    killConnectionsOf: async (pid) => {
      const ports = await portsToMysql(pid, port);
      if (ports.size === 0) return 0;
      const [rows] = await conn.query<Row<{ id: number; host: string | null }>[]>('SELECT ID AS id, HOST AS host FROM information_schema.PROCESSLIST');
      let killed = 0;
      for (const { id, host } of rows) {
        const clientPort = Number(
          String(host ?? '')
            .split(':')
            .pop(),
        );
        if (!ports.has(clientPort)) continue;
        try {
          await conn.query(`KILL CONNECTION ${Number(id)}`);
          killed += 1;
        } catch (error) {
          // It ended between the read and the kill: that is what we wanted.
          if ((error as { errno?: number }).errno !== 1094) throw error;
        }
      }
      return killed;
    },
    close: () => conn.end(),
  };
};
