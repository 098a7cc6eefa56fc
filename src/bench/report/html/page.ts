import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The shell of bench's HTML pages: one file that opens with no network. The
 * stylesheet, uPlot (read from node_modules at report time, never a CDN) and
 * the script that draws the charts are inlined, so a report mailed or kept as
 * a CI artifact still shows its charts years later.
 */

// Both src/bench/report/html and dist/bench/report/html sit four levels below the package root.
const asset = (name: string) => readFileSync(new URL(`../../../../src/bench/report/html/assets/${name}`, import.meta.url), 'utf8');
const uplotFile = (name: string) => readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${name}`), 'utf8');

export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON inside a <script> element: a "</script>" in a string must not end the element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

/** A whole page: `body` is markup; with `charts`, their data and what draws them (each chart's element is <div id=…> in body). */
export const htmlPage = (title: string, body: string, charts: unknown[] | null = null): string => {
  const drawing = charts
    ? `<style>${uplotFile('uPlot.min.css')}</style>
<script>${uplotFile('uPlot.iife.min.js')}</script>
<script type="application/json" id="chart-data">${scriptJson(charts)}</script>
<script>${asset('charts.js')}</script>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${asset('page.css')}</style></head>
<body>
${body}
${drawing}
</body></html>
`;
};
