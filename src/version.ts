import { readFileSync } from 'node:fs';

/** seckill's version, from package.json (one folder above both src/ and dist/), for --version and the reports. */
export const SECKILL_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
