/**
 * `bench --junit FILE`: the run as JUnit XML, the test report CI systems
 * read (GitLab's and Jenkins' test reports, GitHub test-reporter actions):
 * one testsuite per run (strategy, sign-in, replica acks), one testcase per
 * invariant and per threshold, a <failure> for each broken one. Written by
 * hand: it is a few elements, and escaping is the one thing to get right.
 */
import type { StrategyRun } from './figures.js';
import { thresholdText, type BenchReport } from './report.js';

/** What the file needs of a report. */
export type JunitReport = Pick<BenchReport, 'scenario' | 'date' | 'thresholds'> & { runs: Pick<StrategyRun, 'label' | 'durationMs' | 'invariants'>[] };

// XML 1.0 allows tab, LF, CR and U+0020 on (no lone surrogate, no U+FFFE/FFFF): any other character, even as a
// character reference, makes the whole file unreadable, so one in an invariant's detail is spelled out (`\u0007`).
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const spelledOut = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text content: markup characters as entities. */
export const xmlText = (text: string): string => text.replace(NOT_XML_CHAR, spelledOut).replace(/[&<>"']/g, (c) => ENTITIES[c]);

/** An attribute value: as text, and tab, LF and CR as references too (a parser turns them into spaces otherwise). */
const xmlAttribute = (text: string): string => xmlText(text).replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);

const attributes = (values: Record<string, string | number>): string =>
  Object.entries(values)
    .map(([name, value]) => ` ${name}="${xmlAttribute(String(value))}"`)
    .join('');

interface Case {
  name: string;
  classname: string;
  /** the failure's one-line message and its text; null when it held */
  failure: { type: 'invariant' | 'threshold'; message: string; text: string } | null;
}

const testcase = ({ name, classname, failure }: Case): string =>
  failure === null
    ? `    <testcase${attributes({ name, classname, time: 0 })}/>`
    : [
        `    <testcase${attributes({ name, classname, time: 0 })}>`,
        `      <failure${attributes({ message: failure.message, type: failure.type })}>${xmlText(failure.text)}</failure>`,
        '    </testcase>',
      ].join('\n');

/** JUnit wants a local ISO 8601 time without a zone; the report's is UTC. */
const timestampOf = (iso: string): string => iso.slice(0, 19);

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/** The report as a JUnit XML document. */
export const reportJunit = (report: JunitReport): string => {
  const timestamp = timestampOf(report.date);
  const suites = report.runs.map((run) => {
    const classname = `${report.scenario}.${run.label}`;
    const cases: Case[] = [
      ...run.invariants.map((i) => ({
        name: i.name,
        classname: `${classname}.invariants`,
        failure: i.ok ? null : { type: 'invariant' as const, message: i.detail, text: `${run.label}: ${i.name}: ${i.detail}` },
      })),
      ...report.thresholds
        .filter((t) => t.run === run.label)
        .map((t) => ({
          name: t.expr,
          classname: `${classname}.thresholds`,
          failure: t.ok ? null : { type: 'threshold' as const, message: t.detail, text: thresholdText(t) },
        })),
    ];
    const failures = cases.filter((c) => c.failure !== null).length;
    const head = `  <testsuite${attributes({ name: `${report.scenario}: ${run.label}`, tests: cases.length, failures, errors: 0, skipped: 0, time: seconds(run.durationMs), timestamp })}`;
    return { tests: cases.length, failures, xml: cases.length === 0 ? `${head}/>` : [`${head}>`, ...cases.map(testcase), '  </testsuite>'].join('\n') };
  });
  const total = (count: (s: (typeof suites)[number]) => number) => suites.reduce((n, s) => n + count(s), 0);
  const totalMs = report.runs.reduce((n, r) => n + r.durationMs, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: `seckill bench ${report.scenario}`, tests: total((s) => s.tests), failures: total((s) => s.failures), errors: 0, time: seconds(totalMs) })}>`,
    ...suites.map((s) => s.xml),
    '</testsuites>',
    '',
  ].join('\n');
};
