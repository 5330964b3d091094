// The evaluation's report, checked as a person would see it: a real (very
// short) `fos bench` run writes it, headless Chromium opens it from the
// file, every chart must be drawn with the data the run measured, and a
// screenshot is kept in test-artifacts/. No Chromium is a failure, not a
// skip: `.ci/run` installs Debian's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import type { Results } from '../bench/eval/results.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// As the machine notes say: without the networking flags Chromium tries to reach Google at start.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const RUN_TIMEOUT_MS = 45_000;

/** An SVG element as the page sees it (the DOM's types are not in this project's lib). */
interface Graphic {
  getBBox(): { x: number; y: number; width: number; height: number };
}

/** What the page shows of one chart. */
interface DrawnChart {
  readonly chart: string;
  readonly marks: number;
  /** Marks with a finite, non-empty box inside the chart's viewBox. */
  readonly drawn: number;
  readonly series: readonly string[];
}

let out: string;
let results: Results;
let stdout: string;
let browser: Browser | undefined;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'fos-report-'));
  stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [CLI, 'bench', '--smoke', '--out', out], { timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20 }, (err, so, se) =>
      err ? reject(new Error(`fos bench --smoke failed: ${err.message}\n${se}`)) : resolve(so),
    );
  });
  results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Results;
});

/** Chromium, started on first use: each browser test fails by itself when it cannot start. */
async function openBrowser(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's (apt-get install chromium), as .ci/run does, or set CHROMIUM_PATH`);
  browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return browser;
}

after(async () => {
  await browser?.close();
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

describe('fos bench --smoke', () => {
  it('prints the machine, the summary and where the report is', () => {
    assert.match(stdout, /fos evaluation — .+, \d+ cores, \d+ GiB, Node\.js v\d+/);
    for (const title of ['E1 latency', 'E2 callSync', 'E3 one-way', 'E4 the switch', 'E5 fleets', 'Peers']) assert.ok(stdout.includes(title), `no ${title} in the summary`);
    assert.ok(stdout.includes(`report: ${join(out, 'index.html')}`));
  });

  it('writes results.json with a summary for every measured cell', () => {
    assert.equal(results.machine.cores > 0, true);
    const e1 = results.e1!;
    assert.equal(e1.series.length > 0, true);
    for (const s of e1.series) {
      assert.deepEqual(s.points.map((p) => p.size), [...e1.sizes]);
      for (const p of s.points) {
        assert.ok(p.latency.median > 0 && p.latency.samples > 0, `${s.id} ${p.size}: ${JSON.stringify(p.latency)}`);
        assert.equal(p.latency.repMedians.length, results.budget.latency.reps);
      }
    }
    assert.equal(results.e4!.messages.length, results.budget.switchMessages);
    assert.ok(results.e3!.series.every((s) => s.points.every((p) => p.messagesPerSecond.median > 0)));
  });
});

describe('the report in headless Chromium', () => {
  it('is one file that loads nothing else', async () => {
    const html = await readFile(join(out, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script|<link|<img|@import|url\(/i);
    const page = await (await openBrowser()).newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    await page.close();
    assert.deepEqual(
      requests.filter((u) => !u.startsWith('file:')),
      [],
    );
  });

  it('draws every chart with the measured data, and keeps a screenshot', async () => {
    const page = await (await openBrowser()).newPage({ viewport: { width: 1100, height: 900 } });
    try {
      await page.goto(pathToFileURL(join(out, 'index.html')).href);
      const charts: DrawnChart[] = await page.$$eval('svg[data-chart]', (svgs) =>
        svgs.map((svg) => {
          const [vx, vy, vw, vh] = (svg.getAttribute('viewBox') ?? '').split(' ').map(Number) as [number, number, number, number];
          const marks = [...svg.querySelectorAll('.mark')] as unknown as Graphic[];
          const inside = (m: Graphic): boolean => {
            const b = m.getBBox();
            return [b.x, b.y, b.width, b.height].every(Number.isFinite) && b.width > 0 && b.height > 0 && b.x >= vx - 1 && b.y >= vy - 1 && b.x + b.width <= vx + vw + 1 && b.y + b.height <= vy + vh + 1;
          };
          const series = [...svg.querySelectorAll('.series')].map((g) => g.getAttribute('data-series') ?? '');
          return { chart: svg.getAttribute('data-chart') ?? '', marks: marks.length, drawn: marks.filter(inside).length, series };
        }),
      );
      const byName = new Map(charts.map((c) => [c.chart, c]));
      assert.deepEqual([...byName.keys()].sort(), ['e1', 'e2', 'e3-bandwidth', 'e3-messages', 'e4', 'e5', 'peers-rate', 'peers-rtt']);
      for (const c of charts) {
        assert.ok(c.marks > 0, `chart ${c.chart} has no data`);
        assert.equal(c.drawn, c.marks, `chart ${c.chart}: ${c.marks - c.drawn} of its ${c.marks} marks are not drawn inside it`);
      }
      // Each chart shows what the run measured: one line per transport, a dot per size, a dot per call, a bar per ratio.
      const e1 = results.e1!;
      assert.deepEqual(byName.get('e1')!.series, e1.series.map((s) => s.id));
      assert.equal(byName.get('e1')!.marks, e1.series.reduce((n, s) => n + s.points.length, 0));
      assert.equal(byName.get('e3-messages')!.marks, results.e3!.series.reduce((n, s) => n + s.points.length, 0));
      assert.equal(byName.get('e2')!.marks, results.e2!.ratios.length);
      assert.equal(byName.get('e4')!.marks, results.e4!.messages.length);
      assert.equal(byName.get('e5')!.marks, 2 * results.e5!.rows.length);
      assert.equal(byName.get('peers-rtt')!.marks, results.peers!.rows.length);

      const readings = await page.$$eval('section', (ss) => ss.map((s) => ({ id: s.id, reading: s.querySelector('.reading')?.textContent ?? '' })));
      assert.deepEqual(readings.map((r) => r.id), ['e1', 'e2', 'e3', 'e4', 'e5', 'peers']);
      for (const r of readings) assert.ok(r.reading.length > 40 && !/NaN|undefined/.test(r.reading), `section ${r.id} reads ${JSON.stringify(r.reading)}`);
      const e5Rows = await page.$$eval('table[data-chart="e5-table"] tbody tr', (rows) => rows.length);
      assert.equal(e5Rows, results.e5!.rows.length);
      assert.match((await page.textContent('header .machine')) ?? '', new RegExp(`${results.machine.cores} cores`));

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
      await copyFile(join(out, 'index.html'), join(ARTIFACTS, 'report.html'));
    } finally {
      await page.close();
    }
  });
});
