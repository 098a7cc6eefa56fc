import type { Command } from 'commander';

/** The connection flags every command that touches storage takes. */
export const connectionFlags = (command: Command): Command =>
  command
    .option('--redis-url <url>', 'Redis address (env REDIS_URL, default redis://127.0.0.1:6379)')
    .option('--mysql-url <url>', 'MySQL address and database (env MYSQL_URL, default mysql://root@127.0.0.1:3306/seckill)')
    .option('--json', 'print one JSON object on stdout, for machines');
