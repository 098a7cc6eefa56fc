import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import { loadScenario } from '../bench/scenario.js';
import { intOption, timeOption } from '../config.js';
import { loadSkuIntoRedis, readRedisSku, type SkuDefinition } from '../sale/catalog.js';
import { SKU_PATTERN } from '../sale/ids.js';
import { countOrders, getInventory, replaceInventory } from '../store/inventory.js';
import { connectionFlags, withStores } from './common.js';
import { EXIT, runAction, UsageError } from './run.js';

interface PreloadFlags {
  sku?: string;
  stock?: number;
  limit: number;
  startsAt?: number;
  endsAt?: number;
  file?: string;
  reset?: boolean;
  yes?: boolean;
  json?: boolean;
  redisUrl?: string;
  mysqlUrl?: string;
}

/** What preloading one SKU replaces: empty when it is new. */
interface Change {
  sku: string;
  changes: string[];
  orders: number;
  reservations: number;
}

const definitionsFrom = (flags: PreloadFlags): SkuDefinition[] => {
  if (flags.file !== undefined) {
    if (flags.sku !== undefined || flags.stock !== undefined) throw new UsageError('give either --file or --sku/--stock, not both');
    const now = Date.now();
    // A scenario's "opensAfter" counts from now, when the sale is put on.
    return loadScenario(flags.file).skus.map(({ weight: _weight, opensAfterMs, ...def }) => (opensAfterMs === null ? def : { ...def, startsAt: now + opensAfterMs }));
  }
  if (flags.sku === undefined || flags.stock === undefined) throw new UsageError('give --sku and --stock, or --file');
  if (!SKU_PATTERN.test(flags.sku)) throw new UsageError(`--sku must match ${SKU_PATTERN}, got ${JSON.stringify(flags.sku)}`);
  const def = { sku: flags.sku, stock: flags.stock, limit: flags.limit, startsAt: flags.startsAt ?? null, endsAt: flags.endsAt ?? null };
  if (def.startsAt !== null && def.endsAt !== null && def.endsAt <= def.startsAt) throw new UsageError('--ends-at must be after --starts-at');
  return [def];
};

const iso = (ms: number | null) => (ms === null ? 'open' : new Date(ms).toISOString());

const describeChange = async (pool: Pool, redis: Redis, def: SkuDefinition): Promise<Change> => {
  const [row, orders, cached] = await Promise.all([getInventory(pool, def.sku), countOrders(pool, def.sku), readRedisSku(redis, def.sku)]);
  const changes: string[] = [];
  const diff = (what: string, from: unknown, to: unknown) => {
    if (from !== to) changes.push(`${what} ${String(from)} → ${String(to)}`);
  };
  if (row) {
    diff('MySQL stock', row.stock, def.stock);
    diff('limit', row.limit, def.limit);
    diff('starts', iso(row.startsAt), iso(def.startsAt));
    diff('ends', iso(row.endsAt), iso(def.endsAt));
  }
  if (cached.loaded) diff('Redis stock', cached.stock, def.stock);
  if (orders > 0) changes.push(`${orders} MySQL orders deleted`);
  if (cached.reservations > 0) changes.push(`${cached.reservations} Redis reservations deleted`);
  return { sku: def.sku, changes, orders, reservations: cached.reservations };
};

const preload = async (flags: PreloadFlags): Promise<number> => {
  const defs = definitionsFrom(flags);
  if (flags.reset && !flags.yes) throw new UsageError('--reset deletes orders: add --yes to confirm');
  return withStores(flags, async ({ redis, mysql: pool }) => {
    const changes = await Promise.all(defs.map((def) => describeChange(pool, redis, def)));
    const blocked = changes.filter((c) => c.orders + c.reservations > 0);
    if (blocked.length > 0 && !flags.reset) {
      const report = { ok: false, error: 'SKU_HAS_ORDERS', refused: blocked };
      if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        process.stderr.write('seckill: refusing to overwrite SKUs that have orders (nothing was changed).\n');
        for (const c of blocked) process.stderr.write(`  ${c.sku}: would change ${c.changes.join('; ')}\n`);
        process.stderr.write('Run again with --reset --yes to delete those orders and start the sale afresh.\n');
      }
      return EXIT.USAGE;
    }
    for (const def of defs) {
      // MySQL first: a SKU visible in Redis always has its row of record.
      await replaceInventory(pool, def);
      await loadSkuIntoRedis(redis, def);
    }
    const loaded = defs.map((def, i) => ({ ...def, startsAt: def.startsAt && iso(def.startsAt), endsAt: def.endsAt && iso(def.endsAt), replaced: changes[i]!.changes }));
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, skus: loaded })}\n`);
    else
      for (const s of loaded) {
        const was = s.replaced.length ? ` (replaced: ${s.replaced.join('; ')})` : '';
        process.stdout.write(`preloaded ${s.sku}: stock ${s.stock}, limit ${s.limit}, window ${s.startsAt ?? 'open'} – ${s.endsAt ?? 'open'}${was}\n`);
      }
    return EXIT.OK;
  });
};

export const registerPreload = (program: Command): void => {
  connectionFlags(
    program
      .command('preload')
      .description('Put SKUs on sale: write their stock to MySQL (inventory of record) and Redis.')
      .option('--sku <id>', 'SKU id ([A-Za-z0-9_-], at most 64)')
      .option('--stock <n>', 'units on sale', intOption('--stock', 0))
      .option('--limit <n>', 'most units one user may hold', intOption('--limit', 1), 1)
      .option('--starts-at <iso>', 'sale opens at this time (default: open now)', timeOption('--starts-at'))
      .option('--ends-at <iso>', 'sale closes at this time (default: never)', timeOption('--ends-at'))
      .option('--file <scenario.json>', 'preload every SKU of a scenario file instead')
      .option('--reset', 'delete the SKU\'s existing orders and reservations first (needs --yes)')
      .option('--yes', 'confirm --reset'),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ seckill preload --sku phone-1 --stock 1000 --limit 1
  $ seckill preload --sku phone-1 --stock 1000 --starts-at 2026-11-11T00:00:00Z --ends-at 2026-11-11T01:00:00Z
  $ seckill preload --file scenarios/smoke.json --reset --yes --json

A SKU that already has orders is never overwritten silently: preload says what
it would change and exits 2, unless --reset --yes.`,
    )
    .action(runAction(preload));
};
