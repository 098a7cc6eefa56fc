/**
 * The broker's jars: fetched once from Maven Central with mvn (the pom beside
 * this file) into a cache shared by every state dir, and the JVM arguments
 * that run a Kafka class from them.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The kafka_2.13 version the pom fetches. */
export const KAFKA_VERSION = '4.4.0';

export class BrokerError extends Error {
  readonly code = 'KAFKA_BROKER';
}

export type Progress = (line: string) => void;

// src/queue/broker and dist/queue/broker both sit three levels below the
// package root, so one URL finds the pom and the log config from either.
const POM = fileURLToPath(new URL('../../../src/queue/broker/pom.xml', import.meta.url));
const LOG4J_CONFIG = fileURLToPath(new URL('../../../src/queue/broker/log4j2.xml', import.meta.url));

/** Runs a command to completion; its output is kept for the error message, not shown. */
export const runToEnd = (cmd: string, args: string[]): Promise<string> =>
  new Promise((done, fail) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      fail(
        new BrokerError(error.code === 'ENOENT' ? `${cmd} not found on PATH (the local Kafka broker needs Java 17+ and Maven)` : `${cmd}: ${error.message}`),
      ),
    );
    child.once('close', (code) => (code === 0 ? done(out) : fail(new BrokerError(`${cmd} ${args.join(' ')} exited ${code}:\n${out.trim()}`))));
  });

/**
 * Fetches the broker's jars once into $SECKILL_CACHE (default
 * ~/.cache/seckill/kafka-4.4.0) and returns their dir. Maven writes into a
 * private temp dir that is renamed into place only when complete, so an
 * interrupted fetch is retried and two concurrent first runs do not mix files.
 */
export const ensureKafkaJars = async (onProgress: Progress = () => {}, env = process.env): Promise<string> => {
  const cache = resolve(env.SECKILL_CACHE ?? join(homedir(), '.cache', 'seckill', `kafka-${KAFKA_VERSION}`));
  const jars = join(cache, 'jars');
  if (existsSync(jars)) return jars;
  const partial = join(cache, `jars.partial-${randomBytes(4).toString('hex')}`);
  await mkdir(cache, { recursive: true });
  onProgress(`fetching Kafka ${KAFKA_VERSION} jars from Maven Central into ${jars} (once)`);
  const started = Date.now();
  try {
    await runToEnd('mvn', ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`, '-f', POM]);
    await rename(partial, jars);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    // Another process finished first: its jars are as good as ours.
    if (existsSync(jars)) return jars;
    throw error;
  }
  const count = (await readdir(jars)).length;
  onProgress(`fetched ${count} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return jars;
};

/** JVM arguments before the main class: the jars on the class path, log4j writing server.log into `logDir`. */
export const javaArgs = (jars: string, logDir: string): string[] => [
  `-Dkafka.logs.dir=${logDir}`,
  `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
  '-cp',
  join(jars, '*'),
];
