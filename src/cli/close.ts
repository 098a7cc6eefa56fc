import type { Command } from 'commander';
import { intOption } from '../config.js';
import { closeSale, type CloseReport } from '../reconcile/close.js';
import { SKU_PATTERN } from '../sale/ids.js';
import { connectionFlags, logLine, withStores } from './common.js';
import { EXIT, runAction, UsageError } from './exit.js';

interface CloseFlags {
  sku: string;
  endNow?: boolean;
  wait: number;
  json?: boolean;
  redisUrl?: string;
  mysqlUrl?: string;
}

/** Dead stream readers are pruned once they have been idle this long. */
const IDLE_CONSUMER_MS = 3_600_000;

const bytes = (n: number) => `${n.toLocaleString('en')} bytes`;
const perUnit = (n: number, units: number) => (units > 0 ? ` (${Math.round(n / units).toLocaleString('en')} per sold unit)` : '');

const describe = (r: CloseReport): string => {
  if (r.alreadyClosed) return `${r.sku} was already closed: nothing to do`;
  if (!r.closed)
    return [`${r.sku} not closed (nothing was removed)${r.endedNow ? ', though it was ended now' : ''}:`, ...r.notYet.map((why) => `  - ${why}`)].join('\n');
  return [
    `closed ${r.sku}${r.endedNow ? ' (ended now)' : ''}: ${r.soldUnits.toLocaleString('en')} unit(s) sold`,
    `  Redis: ${bytes(r.bytesBefore)}${perUnit(r.bytesBefore, r.soldUnits)} → ${bytes(r.bytesAfter)}; stock and meta kept for reconcile`,
    `  no longer read by relays, consumers or sweepers; ${r.prunedConsumers} dead stream reader(s) pruned`,
  ].join('\n');
};

const close = async (flags: CloseFlags): Promise<number> => {
  if (!SKU_PATTERN.test(flags.sku)) throw new UsageError(`--sku must match ${SKU_PATTERN}, got ${JSON.stringify(flags.sku)}`);
  return withStores(flags, async (stores) => {
    const report = await closeSale(stores, flags.sku, {
      endNow: flags.endNow === true,
      waitMs: flags.wait * 1000,
      idleConsumerMs: IDLE_CONSUMER_MS,
      progress: flags.json ? undefined : logLine,
    });
    process.stdout.write(`${flags.json ? JSON.stringify(report) : describe(report)}\n`);
    return report.closed ? EXIT.OK : EXIT.INVARIANT;
  });
};

export const registerClose = (program: Command): void => {
  connectionFlags(
    program
      .command('close')
      .description(
        'Give an ended sale its end in Redis: keep its stock and meta for reconcile, remove reservations, request ids, holdings and its outbox, and stop relays and sweepers reading it.',
      )
      .requiredOption('--sku <id>', 'the SKU whose sale to close')
      .option('--end-now', 'end the sale now if it has no end yet (or ends later): buyers are answered 410 ENDED from then on')
      .option(
        '--wait <seconds>',
        'wait this long for what the sale sold to settle (orders in MySQL, payments, releases) before giving up',
        intOption('--wait', 0, 86_400),
        0,
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ seckill close --sku phone-1
  $ seckill close --sku phone-1 --end-now --wait 120 --json

A sale closes only once it has ended and everything it sold is settled:
every reservation in MySQL or released, no order awaiting payment, every cancelled order's units back in Redis, reconcile clean. Until
then nothing is removed, the reasons are listed, and the exit code is 1.
Exit 0 once closed (or already closed); 2 for a usage or set-up error.`,
    )
    .action(runAction(close));
};
