import type { Command } from 'commander';
import { loadScenario } from '../bench/scenario.js';
import { intOption, timeOption } from '../config.js';
import type { SkuDefinition } from '../sale/catalog.js';
import { SKU_PATTERN } from '../sale/ids.js';
import { MAX_BUCKETS } from '../sale/buckets.js';
import { putOnSale } from '../sale/put-on-sale.js';
import { inventoryRecord } from '../store/inventory.js';
import { connectionFlags, withStores } from './common.js';
import { EXIT, runAction, UsageError } from './exit.js';

interface PreloadFlags {
  sku?: string;
  stock?: number;
  limit: number;
  buckets: number;
  startsAt?: number;
  endsAt?: number;
  file?: string;
  reset?: boolean;
  yes?: boolean;
  json?: boolean;
  redisUrl?: string;
  mysqlUrl?: string;
}

const definitionsFrom = (flags: PreloadFlags): SkuDefinition[] => {
  if (flags.file !== undefined) {
    if (flags.sku !== undefined || flags.stock !== undefined || flags.buckets !== 1)
      throw new UsageError('give either --file (its SKUs say their buckets) or --sku/--stock/--buckets, not both');
    const now = Date.now();
    // A scenario's "opensAfter" and "endsAfter" count from now, when the sale is put on.
    return loadScenario(flags.file).skus.map(({ weight: _weight, opensAfterMs, endsAfterMs, ...def }) => ({
      ...def,
      ...(opensAfterMs !== null && { startsAt: now + opensAfterMs }),
      ...(endsAfterMs !== null && { endsAt: now + endsAfterMs }),
    }));
  }
  if (flags.sku === undefined || flags.stock === undefined) throw new UsageError('give --sku and --stock, or --file');
  if (!SKU_PATTERN.test(flags.sku)) throw new UsageError(`--sku must match ${SKU_PATTERN}, got ${JSON.stringify(flags.sku)}`);
  const def = {
    sku: flags.sku,
    stock: flags.stock,
    limit: flags.limit,
    buckets: flags.buckets,
    startsAt: flags.startsAt ?? null,
    endsAt: flags.endsAt ?? null,
  };
  if (def.startsAt !== null && def.endsAt !== null && def.endsAt <= def.startsAt) throw new UsageError('--ends-at must be after --starts-at');
  return [def];
};

const iso = (ms: number | null) => (ms === null ? 'open' : new Date(ms).toISOString());

const preload = async (flags: PreloadFlags): Promise<number> => {
  const defs = definitionsFrom(flags);
  if (flags.reset && !flags.yes) throw new UsageError('--reset deletes orders: add --yes to confirm');
  return withStores(flags, async ({ redis, mysql }) => {
    const result = await putOnSale(redis, inventoryRecord(mysql), defs, { reset: flags.reset === true });
    if (!result.ok) {
      const report = { ok: false, error: 'SKU_HAS_ORDERS', refused: result.refused };
      if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        process.stderr.write('seckill: refusing to overwrite SKUs that have orders (nothing was changed).\n');
        for (const c of result.refused) process.stderr.write(`  ${c.sku}: would change ${c.changes.join('; ')}\n`);
        process.stderr.write('Run again with --reset --yes to delete those orders and start the sale afresh.\n');
      }
      return EXIT.USAGE;
    }
    const loaded = defs.map((def, i) => ({
      ...def,
      startsAt: def.startsAt && iso(def.startsAt),
      endsAt: def.endsAt && iso(def.endsAt),
      replaced: result.changes[i].changes,
    }));
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, skus: loaded })}\n`);
    else
      for (const s of loaded) {
        const was = s.replaced.length ? ` (replaced: ${s.replaced.join('; ')})` : '';
        const split = (s.buckets ?? 1) > 1 ? ` in ${s.buckets} buckets` : '';
        process.stdout.write(`preloaded ${s.sku}: stock ${s.stock}${split}, limit ${s.limit}, window ${s.startsAt ?? 'open'} – ${s.endsAt ?? 'open'}${was}\n`);
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
      .option(
        '--buckets <n>',
        `split the stock over n Redis buckets, each in a cluster slot of its own (1–${MAX_BUCKETS}; for a SKU hotter than one Redis master)`,
        intOption('--buckets', 1, MAX_BUCKETS),
        1,
      )
      .option('--starts-at <iso>', 'sale opens at this time (default: open now)', timeOption('--starts-at'))
      .option('--ends-at <iso>', 'sale closes at this time (default: never)', timeOption('--ends-at'))
      .option('--file <scenario.json>', 'preload every SKU of a scenario file instead')
      .option('--reset', "delete the SKU's existing orders and reservations first (needs --yes)")
      .option('--yes', 'confirm --reset'),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ seckill preload --sku phone-1 --stock 1000 --limit 1
  $ seckill preload --sku phone-1 --stock 1000 --starts-at 2026-11-11T00:00:00Z --ends-at 2026-11-11T01:00:00Z
  $ seckill preload --sku hot-1 --stock 1000000 --buckets 12   # on a Redis Cluster
  $ seckill preload --file scenarios/smoke.json --reset --yes --json

A SKU that already has orders is never overwritten silently: preload says what
it would change and exits 2, unless --reset --yes.`,
    )
    .action(runAction(preload));
};
