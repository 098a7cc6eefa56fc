import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';

/**
 * A page opened in a real browser: Debian's chromium (.ci/run installs it),
 * driven by playwright-core. A test tool's own browser download does not
 * work here, so none is used.
 */
export const CHROMIUM = process.env.SECKILL_CHROMIUM ?? '/usr/bin/chromium';

/** Flags that work on this machine: no sandbox (CI runs as root), no GPU, and nothing that phones home on its own. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where tests leave screenshots for CI to keep (gitignored). */
export const ARTIFACTS = resolve('test-artifacts');

export interface OpenedPage {
  page: Page;
  /** console errors, uncaught exceptions and every request that is not the file itself: a report must open with no network */
  problems: string[];
  /** saves a full-page screenshot under ARTIFACTS, prints its path in the test log, and returns it */
  screenshot: (name: string) => Promise<string>;
  close: () => Promise<void>;
}

export const openInBrowser = async (file: string): Promise<OpenedPage> => {
  const profile = mkdtempSync(join(tmpdir(), 'seckill-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1300, height: 900 },
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const own = pathToFileURL(resolve(file)).href;
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('request', (request) => {
    if (request.url() !== own && !request.url().startsWith('data:')) problems.push(`network request: ${request.url()}`);
  });
  await page.goto(own, { waitUntil: 'load' });
  return {
    page,
    problems,
    screenshot: async (name) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      const path = join(ARTIFACTS, name);
      await page.screenshot({ path, fullPage: true });
      console.log(`screenshot (CI artifact): ${path}`);
      return path;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
};
