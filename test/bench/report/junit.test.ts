import { DOMParser, type Element } from '@xmldom/xmldom';
import { validateXML } from 'xmllint-wasm';
import { describe, expect, it } from 'vitest';
import { reportJunit, type JunitReport } from '../../../src/bench/report/junit.js';

/**
 * The JUnit file read back as a CI's reader would take it, not compared as
 * a string: libxml2 (xmllint, compiled to WebAssembly) says whether it is
 * well-formed XML 1.0 — it refuses what lenient parsers let by, a bare `&`,
 * a `<` in an attribute, a control character — then a DOM reads it.
 */
const wellFormed = async (xml: string): Promise<string[]> => {
  const result = await validateXML({ xml: [{ fileName: 'junit.xml', contents: xml }], normalization: 'c14n' });
  return result.errors.map((e) => e.rawMessage);
};

const parse = (xml: string) =>
  new DOMParser({
    onError: (level, message) => {
      throw new Error(`${level}: ${message}`);
    },
    // XML 1.0's line ends only: the file declares 1.0.
    normalizeLineEndings: (source) => source.replace(/\r\n?/g, '\n'),
  }).parseFromString(xml, 'text/xml');

const children = (parent: Element, tag: string): Element[] => Array.from(parent.childNodes).filter((n): n is Element => n.nodeType === 1 && n.nodeName === tag);

// Every character a parser must not be confused by: markup, both quotes, a CDATA end, line ends and tabs, characters XML 1.0 cannot hold at all.
const NASTY = `ids a<b> & "c" 'd' ]]> end\n\tsecond line \u0007 bell, \uffff, ☃ and 𝄞`;

const report: JunitReport = {
  scenario: 'smoke & <friends>',
  date: '2026-12-06T04:18:00.462Z',
  runs: [
    {
      label: 'seckill',
      durationMs: 8_443,
      invariants: [
        { name: 'no-oversell', ok: true, detail: 'sold 200 of 200' },
        { name: 'every-201-has-one-order', ok: false, detail: NASTY },
      ],
    },
    { label: 'seckill+jwt', durationMs: 1_000, invariants: [{ name: 'no-oversell', ok: true, detail: 'fine' }] },
    { label: 'ceiling', durationMs: 5_175, invariants: [] },
  ],
  thresholds: [
    { expr: 'p99<0.001ms', run: 'seckill', metric: 'p99', value: 248.5, ok: false, detail: 'p99 248.5 ms' },
    { expr: 'ceiling>=0.5', run: 'seckill', metric: 'ceiling', value: 0.61, ok: true, detail: 'ceiling 0.610×' },
    { expr: 'p99<0.001ms', run: 'seckill+jwt', metric: 'p99', value: 0.0005, ok: true, detail: 'p99 0.001 ms' },
  ],
};

describe('the JUnit report', () => {
  it('is well-formed XML: a testsuite per run, a testcase per invariant and threshold, a failure for each broken one with its message intact', async () => {
    const xml = reportJunit(report);
    expect(await wellFormed(xml)).toEqual([]);
    const doc = parse(xml);
    const root = doc.documentElement!;
    expect(root.nodeName).toBe('testsuites');
    expect([root.getAttribute('name'), root.getAttribute('tests'), root.getAttribute('failures')]).toEqual(['seckill bench smoke & <friends>', '6', '2']);

    const suites = children(root, 'testsuite');
    expect(suites.map((s) => [s.getAttribute('name'), s.getAttribute('tests'), s.getAttribute('failures'), s.getAttribute('time')])).toEqual([
      ['smoke & <friends>: seckill', '4', '2', '8.443'],
      ['smoke & <friends>: seckill+jwt', '2', '0', '1.000'],
      ['smoke & <friends>: ceiling', '0', '0', '5.175'],
    ]);
    expect(suites[0].getAttribute('timestamp')).toBe('2026-12-06T04:18:00');

    const cases = children(suites[0], 'testcase');
    expect(cases.map((c) => [c.getAttribute('classname'), c.getAttribute('name'), children(c, 'failure').length])).toEqual([
      ['smoke & <friends>.seckill.invariants', 'no-oversell', 0],
      ['smoke & <friends>.seckill.invariants', 'every-201-has-one-order', 1],
      ['smoke & <friends>.seckill.thresholds', 'p99<0.001ms', 1],
      ['smoke & <friends>.seckill.thresholds', 'ceiling>=0.5', 0],
    ]);
    const [invariantFailure] = children(cases[1], 'failure');
    // The bell and U+FFFF cannot be written in XML 1.0 at all: they are spelled out, and every other character comes back as it was.
    const readable = NASTY.replace('\u0007', '\\u0007').replace('\uffff', '\\uffff');
    expect(invariantFailure.getAttribute('type')).toBe('invariant');
    expect(invariantFailure.getAttribute('message')).toBe(readable);
    expect(invariantFailure.textContent).toBe(`seckill: every-201-has-one-order: ${readable}`);
    const [thresholdFailure] = children(cases[2], 'failure');
    expect([thresholdFailure.getAttribute('type'), thresholdFailure.getAttribute('message'), thresholdFailure.textContent]).toEqual([
      'threshold',
      'p99 248.5 ms',
      'seckill: p99<0.001ms (p99 248.5 ms)',
    ]);
    expect(children(suites[1], 'testcase').map((c) => c.getAttribute('name'))).toEqual(['no-oversell', 'p99<0.001ms']);
  });

  it('is checked by a reader that refuses markup left unescaped and characters XML cannot hold', async () => {
    for (const bad of ['<a b="c<d"/>', '<a>b & c</a>', '<a>\u0007</a>', '<a>&#7;</a>', '<a b="\uffff"/>']) expect(await wellFormed(bad)).not.toEqual([]);
  });
});
