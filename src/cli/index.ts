import { Command, CommanderError } from 'commander';
import { registerKafka } from './kafka.js';
import { registerRedisCluster } from './redis-cluster.js';
import { registerPreload } from './preload.js';
import { registerServe } from './serve.js';
import { registerRelay } from './relay.js';
import { registerConsume } from './consume.js';
import { registerBench } from './bench.js';
import { registerReconcile } from './reconcile.js';
import { registerClose } from './close.js';
import { EXIT } from './exit.js';
import { SECKILL_VERSION } from '../version.js';

const program = new Command('seckill')
  .description('Flash-sale inventory deduction that never oversells.')
  .version(SECKILL_VERSION, '-V, --version', 'print the version of seckill')
  .showHelpAfterError('(run with --help for usage and examples)')
  .exitOverride();

registerPreload(program);
registerServe(program);
registerRelay(program);
registerConsume(program);
registerBench(program);
registerReconcile(program);
registerClose(program);
registerKafka(program);
registerRedisCluster(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; every parse error is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    // A flag's own parser refused its value (see config.ts).
    process.stderr.write(`seckill: ${(error as Error).message}\n`);
    process.exitCode = EXIT.USAGE;
  }
}
