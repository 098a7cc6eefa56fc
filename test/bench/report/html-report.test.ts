import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openInBrowser } from '../../browser.js';
import { runSeckill, uniqueSku } from '../../helpers.js';

/**
 * bench's HTML pages from small real runs, opened in headless Chromium: what
 * a person sees, not what the markup promises.
 */

const dir = mkdtempSync(join(tmpdir(), 'seckill-report-test-'));

/** A scenario file of the test's own (its own SKU, so nothing else's sale is touched), small enough for seconds. */
const scenarioFile = (name: string, extra: Record<string, unknown> = {}): string => {
  const file = join(dir, `${name}.json`);
  const scenario = {
    name,
    description: `${name}: a small sale for the report test`,
    skus: [{ sku: uniqueSku(name), stock: 150, limit: 1 }],
    buyers: 1_500,
    bots: { retries: 0.05, hammer: 0.05 },
    load: { connections: 10, requests: 1_500, durationSec: 10 },
    expect: { sellOut: true },
    drainTimeoutSec: 30,
    ...extra,
  };
  writeFileSync(file, JSON.stringify(scenario));
  return file;
};

/** What uPlot drew, read back from each chart's canvas: the pixels in the colours of its series. */
interface DrawnChart {
  id: string;
  plot: {
    bbox: { left: number; top: number; width: number; height: number };
    ctx: { getImageData: (x: number, y: number, w: number, h: number) => { data: ArrayLike<number> } };
  };
  colors: string[];
}
const seriesPixels = () =>
  (globalThis as unknown as { seckillCharts: DrawnChart[] }).seckillCharts.map(({ id, plot, colors }) => {
    const { left, top, width, height } = plot.bbox;
    const pixels = plot.ctx.getImageData(left, top, width, height).data;
    const rgb = [...new Set(colors)].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
    let count = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i + 3] < 128) continue;
      if (rgb.some(([r, g, b]) => Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) < 60)) count += 1;
    }
    return { id, count };
  });

describe('the bench report in a real browser', () => {
  it('draws every chart with every strategy on it, shows the comparison as a table, the invariants and the parameters, with no console error and no network', async () => {
    const html = join(dir, 'report.html');
    const run = await runSeckill([
      'bench',
      scenarioFile('report'),
      '--compare',
      'seckill,ceiling',
      '--queue',
      'redis',
      '--threshold',
      'ceiling>=0.01',
      '--threshold',
      'ceiling:p99<60s',
      '--html',
      html,
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { invariants: unknown[] };

    const opened = await openInBrowser(html);
    try {
      const { page } = opened;
      // Every chart on the page was drawn, and drew its series (not only axes and grid).
      const figures = await page.$$eval('figure.chart div[id]', (els) => els.map((el) => el.id));
      expect(figures).toEqual(['sell-out-answers', 'sell-out-stock', 'answers', 'latency', 'stock', 'latency-distribution']);
      const drawn = await page.evaluate(seriesPixels);
      expect(drawn.map((c) => c.id)).toEqual(figures);
      for (const chart of drawn) expect(chart.count, `pixels of series in chart ${chart.id}`).toBeGreaterThan(100);
      // Every strategy is on one chart: a legend entry per strategy's series.
      const legend = await page.$$eval('#answers .u-legend .u-series .u-label', (els) => els.map((el) => el.textContent ?? ''));
      expect(legend.some((l) => l.startsWith('seckill OK'))).toBe(true);
      expect(legend.some((l) => l.startsWith('ceiling OK'))).toBe(true);

      expect(await page.$$eval('table.comparison thead th', (els) => els.map((el) => el.textContent))).toEqual(['', 'seckill', 'ceiling']);
      expect(await page.locator('table.comparison tbody tr').count()).toBeGreaterThan(10);
      // The invariants as a list, each with its detail.
      const invariants = await page.$$eval('ul.invariants li', (els) => els.map((el) => el.textContent ?? ''));
      expect(invariants).toHaveLength(report.invariants.length);
      expect(invariants.every((text) => text.startsWith('✓ ') && text.includes(': '))).toBe(true);
      // The thresholds, each on its run with the value it was held to.
      const thresholds = await page.$$eval('ul.thresholds li', (els) => els.map((el) => el.textContent ?? ''));
      expect(thresholds).toEqual([
        expect.stringMatching(/^✓ seckill: ceiling>=0\.01 \(ceiling [\d.]+×\)$/),
        expect.stringMatching(/^✓ ceiling: ceiling:p99<60s \(p99 [\d.]+ ms\)$/),
      ]);
      expect(await page.locator('p .ok', { hasText: 'Every threshold holds.' }).count()).toBe(1);
      const parameters = await page.locator('dl.parameters').innerText();
      expect(parameters).toContain(`${cpus().length} cores`);
      expect(parameters).toMatch(/seckill \d+\.\d+\.\d+, Node v\d+/);

      await opened.screenshot('bench-report.png');
      expect(opened.problems).toEqual([]);
    } finally {
      await opened.close();
    }
  }, 120_000);

  it('writes one page for a chaos campaign: a row per seed with the faults it drew and injected', async () => {
    const html = join(dir, 'campaign.html');
    const file = scenarioFile('campaign', {
      load: { connections: 10, requests: 900, durationSec: 10 },
      chaos: { faults: 1, within: '600ms', maxFor: '300ms', kinds: ['kill-consumer'] },
    });
    const run = await runSeckill(['bench', file, '--seeds', '1-2', '--queue', 'redis', '--html', html, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const campaign = JSON.parse(run.stdout) as { seeds: { seed: number; drawn: { kind: string; atMs: number; forMs: number }[] }[] };

    const opened = await openInBrowser(html);
    try {
      const rows = await opened.page.$$eval('table.campaign tbody tr', (trs) => trs.map((tr) => Array.from(tr.children, (cell) => cell.textContent ?? '')));
      expect(rows.map((cells) => cells[0])).toEqual(['1', '2']);
      for (const [i, cells] of rows.entries()) {
        expect(cells[1]).toBe('✓ ok');
        expect(cells[2]).toBe('kill-consumer ×1');
        // The fault the seed drew, when and for how long: what `--seed N` replays.
        const [fault] = campaign.seeds[i].drawn;
        expect(cells[3]).toBe(`kill-consumer at ${(fault.atMs / 1000).toFixed(1)} s for ${(fault.forMs / 1000).toFixed(1)} s`);
      }
      await opened.screenshot('bench-campaign.png');
      expect(opened.problems).toEqual([]);
    } finally {
      await opened.close();
    }
  }, 180_000);
});
