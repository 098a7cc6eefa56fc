import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { LocalMysql } from '../../src/store/local-mysql.js';
import type { Row } from '../../src/store/rows.js';

const dirs: string[] = [];
const servers: LocalMysql[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const ownMysql = async (): Promise<LocalMysql> => {
  const dir = await mkdtemp(join(tmpdir(), 'seckill-mysql-'));
  dirs.push(dir);
  const server = new LocalMysql({ dir, port: await freePort() });
  servers.push(server);
  return server;
};

/** A TCP connection as a client of the server's address has (not its socket). */
const overTcp = (server: LocalMysql) => mysql.createConnection({ host: server.host, port: server.port, user: 'root', password: '' });

const countRows = async (server: LocalMysql): Promise<number> => {
  const conn = await overTcp(server);
  try {
    const [rows] = await conn.query<Row<{ n: number }>[]>('SELECT COUNT(*) AS n FROM kept.rows_kept');
    return Number(rows[0].n);
  } finally {
    await conn.end();
  }
};

describe('a MySQL of our own', () => {
  it('answers root over TCP on its own port, and keeps every committed row across a clean stop and a SIGKILL', async () => {
    const server = await ownMysql();
    const first = await server.start();
    expect(first.alreadyRunning).toBe(false);
    expect(first.pid).toBe(await server.pid());
    expect(server.port).not.toBe(3306);

    const conn = await overTcp(server);
    await conn.query('CREATE DATABASE kept');
    await conn.query('CREATE TABLE kept.rows_kept (id INT PRIMARY KEY) ENGINE=InnoDB');
    await conn.query('INSERT INTO kept.rows_kept VALUES (1), (2)');
    await conn.end();

    expect((await server.start()).alreadyRunning).toBe(true);

    await server.stop();
    expect(await server.pid()).toBeNull();
    expect(await server.answers()).toBe(false);
    await server.start();
    expect(await countRows(server)).toBe(2);

    const again = await overTcp(server);
    await again.query('INSERT INTO kept.rows_kept VALUES (3)');
    await again.end();
    await server.kill();
    expect(await server.pid()).toBeNull();
    const restarted = await server.start();
    expect(restarted.initMs).toBe(0); // its data dir, not a fresh one
    expect(await countRows(server)).toBe(3);

    const third = await server.restart();
    expect(third.pid).not.toBe(restarted.pid);
    expect(await countRows(server)).toBe(3);
    await server.stop();
  });

  it('runs mariadbd under a launcher that execs it, and records the pid of mariadbd itself', async () => {
    const server = await ownMysql();
    // env execs its argument as `ip netns exec <ns>` does, without needing a namespace.
    const launched = new LocalMysql({ dir: server.dir, port: server.port, launcher: ['env', 'SECKILL_LAUNCHED=1'] });
    servers.push(launched);
    const { pid } = await launched.start();
    expect(await launched.pid()).toBe(pid);
    const conn = await overTcp(launched);
    await conn.query('SELECT 1');
    await conn.end();
    await launched.kill();
    expect(await launched.answers()).toBe(false);
  });
});
