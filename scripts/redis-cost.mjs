// Redis µs per reservation, by Redis's own clock (INFO commandstats), for
// reserve.lua deciding 1, 10, 50 and 200 requests a call, with each of its
// writes left out in turn (what that write costs), and for the script before
// group commit (one request a call). On a redis-server of its own (started
// here on a free port, no persistence), so nothing else's commands count.
// Each figure is the best of REPEATS runs of N reservations: on a shared
// machine the least disturbed run is the closest to the script's own cost.
//
//   npm run build && node scripts/redis-cost.mjs        (N=8000 REPEATS=5 by default)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { readScript } from '../dist/redis/scripts.js';
import { freePort } from '../dist/bench/servers/ports.js';

const N = Number(process.env.N ?? 8000);
const REPEATS = Number(process.env.REPEATS ?? 5);
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'redis-cost-'));
const server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
const redis = new Redis({ port, retryStrategy: (n) => (n < 50 ? 100 : null) });
await redis.ping();

const full = readScript('reserve');
const cut = (text, line) => {
  if (!text.includes(line)) throw new Error(`reserve.lua has no line ${JSON.stringify(line)}: update this script`);
  return text.replace(line, '');
};
const outboxLine = 'events[#events + 1] = event';
const outboxWrite = "rcall('XADD', KEYS[6], '*', 'event', table.concat(events, '\\n'))";
const recordWrite = "rcall('HSET', KEYS[5], unpack(newRecords))";
const variants = {
  'every write': full,
  'no outbox line': cut(full, outboxLine),
  'no reservation record': cut(full, recordWrite),
  'no holder': cut(full, "rcall('HSET', KEYS[3], unpack(holderPairs))"),
  'no outbox, record or JSON': cut(cut(cut(cut(full, outboxLine), outboxWrite), recordWrite), 'newRecords[#newRecords + 1] = event').replace(
    /local event = cjson\.encode\(\{[^}]*\}\)/,
    '',
  ),
};
const keysOf = (sku) => ['stock', 'meta', 'holders', 'requests', 'reservations', 'outbox', 'admitted', 'ticket-leases'].map((k) => `seckill:{${sku}}:${k}`);
// Each request spends a ticket of this admission lease, as the gateway's do (reserve.lua takes it off the lease).
const LEASE = `${Date.now() + 86_400_000}.cost.1`;
let run = 0;
const scriptUsec = async () => {
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'));
  return m ? Number(m[2]) : 0;
};
/** µs per reservation of N reservations through `lua`, `size` requests a call; `argsOf` spells one request's ARGV. */
const measure = async (lua, size, argsOf, head) => {
  const sha = await redis.script('LOAD', lua);
  const sku = `cost-${run++}`;
  const k = keysOf(sku);
  await redis.hset(k[1], { initial: 1e9, limit: 1, startsAt: 0, endsAt: 0 });
  await redis.set(k[0], 1e9);
  await redis.hset(k[7], LEASE, 1e9);
  await redis.config('RESETSTAT');
  for (let i = 0; i < N; i += size) {
    const args = head(sku);
    for (let j = i; j < Math.min(N, i + size); j++) args.push(...argsOf(sku, j));
    await redis.evalsha(sha, k.length, ...k, ...args);
  }
  const usec = await scriptUsec();
  await redis.del(...k);
  return usec / N;
};
const best = async (f) => {
  let least = Infinity;
  for (let r = 0; r < REPEATS; r++) least = Math.min(least, await f());
  return least.toFixed(2);
};
const grouped = (withRequestId) => [
  (sku) => [sku, 'seckill:stock-events'],
  (sku, j) => [`user-${j}`, 1, withRequestId ? `req-${j}` : '', `${sku}.order${j}abcdefghijkl`, LEASE],
];

const rows = [];
for (const size of [1, 10, 50, 200]) {
  const row = { 'requests a call': size };
  for (const [name, lua] of Object.entries(variants)) row[name] = await best(() => measure(lua, size, grouped(true)[1], grouped(true)[0]));
  row['no request id'] = await best(() => measure(full, size, grouped(false)[1], grouped(false)[0]));
  rows.push(row);
}
// reserve.lua before group commit (commit 9ebad47), one request a call.
const before = execFileSync('git', ['show', '9ebad47:lua/reserve.lua'], { encoding: 'utf8' }).replace(/^--- @include "([a-z-]+)"$/gm, (_l, n) =>
  readFileSync(new URL(`../lua/includes/${n}.lua`, import.meta.url), 'utf8'),
);
rows.push({
  'requests a call': '1 (before group commit)',
  'every write': await best(() =>
    measure(
      before,
      1,
      (sku, j) => [`user-${j}`, 1, `req-${j}`, `${sku}.order${j}abcdefghijkl`, Date.now(), 'seckill:stock-events', 1],
      (sku) => [sku],
    ),
  ),
});
console.log(`Redis µs per reservation (best of ${REPEATS} × ${N}), redis-server ${(await redis.info('server')).match(/redis_version:(\S+)/)[1]}`);
console.table(rows);
redis.disconnect();
server.kill();
rmSync(dir, { recursive: true, force: true });
