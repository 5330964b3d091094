// The evaluation's pure parts, without measuring anything: statistics,
// scales and log axes, the charts' SVG, the report's sections, the
// readings, the flags and the progress lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Results } from '../bench/eval/results.js';
import { BUDGETS, parseOptions } from '../bench/eval/options.js';
import { Progress } from '../bench/eval/progress.js';
import { claimVerdict, e4Reading, e5Reading, fasterOrSlower } from '../bench/eval/readings.js';
import { barChart } from '../bench/eval/report/bar-chart.js';
import { renderReport } from '../bench/eval/report/html.js';
import { lineChart } from '../bench/eval/report/line-chart.js';
import { linearScale, logScale, niceStep, tickLabel } from '../bench/eval/report/scales.js';
import { median, quantile, ratioOf, spreadOf, summarize } from '../bench/eval/stats.js';
import { terminalSummary } from '../bench/eval/terminal.js';
import { textTable } from '../bench/eval/text-table.js';
import { fmtBandwidth, fmtBytes, fmtMicros, fmtRate } from '../bench/eval/format.js';
import { fleetSizes } from '../bench/eval/experiments/e5-fleets.js';

describe('stats', () => {
  it('quantile is nearest-rank, median averages the middle pair', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
    assert.ok(Number.isNaN(quantile([], 0.5)));
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('summarize: median of the repetitions, p99 over all samples, spread between repetitions', () => {
    const s = summarize([
      [1, 2, 3],
      [10, 20, 30],
      [4, 5, 6],
    ]);
    assert.deepEqual(s.repMedians, [2, 20, 5]);
    assert.equal(s.median, 5);
    assert.equal(s.repMin, 2);
    assert.equal(s.repMax, 20);
    assert.equal(s.p99, 30);
    assert.equal(s.samples, 9);
    assert.equal(s.opsPerSample, 1);
  });

  it('a ratio carries the widest range the two spreads allow', () => {
    const a = spreadOf([8, 10, 12]);
    const b = spreadOf([1, 2, 4]);
    assert.deepEqual(ratioOf(a, b), { ratio: 5, low: 2, high: 12 });
    const s = summarize([[2], [4]]);
    assert.equal(ratioOf(s, s).ratio, 1);
  });
});

describe('scales', () => {
  it('a log scale spans whole decades and maps them to the ends of its range', () => {
    const y = logScale(3, 4500, [300, 0]);
    assert.deepEqual(y.domain, [1, 10_000]);
    assert.deepEqual(y.ticks, [1, 10, 100, 1000, 10_000]);
    assert.equal(y(1), 300);
    assert.equal(y(10_000), 0);
    assert.equal(y(100), 150);
  });

  it('a log scale over less than two decades gets ticks at 2 and 5 too', () => {
    assert.deepEqual(logScale(12, 40, [0, 100]).ticks, [10, 20, 50, 100]);
    assert.deepEqual(logScale(0.25, 0.25, [0, 100]).ticks, [0.1, 0.2, 0.5, 1]);
    assert.throws(() => logScale(0, 10, [0, 1]), RangeError);
  });

  it('a linear scale ends on round ticks', () => {
    const x = linearScale(0, 87, [0, 100]);
    assert.deepEqual(x.ticks, [0, 20, 40, 60, 80, 100]);
    assert.equal(x(50), 50);
    assert.equal(niceStep(0.37), 0.5);
    assert.equal(niceStep(1234), 2000);
    assert.equal(tickLabel(25_000), '25k');
    assert.equal(tickLabel(3e6), '3M');
    assert.equal(tickLabel(0.01), '0.01');
  });
});

describe('charts', () => {
  const series = [
    { id: 'a', label: 'A', color: '#111', points: [{ x: 8, y: 10, lo: 9, hi: 12 }, { x: 1024, y: 20 }, { x: 262144, y: 400 }] },
    { id: 'b', label: 'B', color: '#222', dashed: true, points: [{ x: 8, y: 0 }, { x: 64, y: NaN }, { x: 1024, y: 2 }, { x: 262144, y: 3 }] },
  ];

  it('a log-log line chart has a mark per drawable point, and no NaN anywhere', () => {
    const svg = lineChart({ chart: 'c', title: 't', x: { label: 'size', log: true, ticks: [8, 1024, 262144] }, y: { label: 'µs', log: true }, series });
    assert.equal(svg.match(/class="mark"/g)?.length, 5); // a zero and a NaN cannot sit on a log axis
    assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
    assert.match(svg, /data-chart="c"/);
    assert.match(svg, /data-series="b"[^>]*><path class="line"[^>]*stroke-dasharray/);
  });

  it('ratio bars grow from 1: up when slower, down when faster', () => {
    const svg = barChart({
      chart: 'r',
      title: 't',
      y: { label: 'ratio', log: true },
      baseline: { value: 1, label: 'parity' },
      groups: [
        { label: 'slower', bars: [{ label: 'x', value: 10, color: '#000' }] },
        { label: 'faster', bars: [{ label: 'x', value: 0.1, color: '#000' }] },
      ],
    });
    const rects = [...svg.matchAll(/<rect class="mark" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"/g)].map((m) => ({ y: Number(m[1]), h: Number(m[2]) }));
    const one = Number(/<g class="marker"><line [^>]*y1="([^"]+)"/.exec(svg)![1]);
    assert.equal(rects.length, 2);
    assert.ok(Math.abs(rects[0]!.y + rects[0]!.h - one) < 0.2, 'the slower bar ends at the parity line');
    assert.ok(Math.abs(rects[1]!.y - one) < 0.2, 'the faster bar starts at the parity line');
  });
});

/** A made-up run with every experiment: the shape of results.json, not measured data. */
function fakeResults(): Results {
  const lat = (us: number) => summarize([[us], [us * 1.1], [us * 0.9]]);
  const rate = (v: number) => spreadOf([v * 0.9, v, v * 1.1]);
  const sizes = [8, 1024];
  return {
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 4, node: 'v20.0.0', platform: 'linux/x64' },
    startedAt: new Date(0).toISOString(),
    seconds: 1,
    budget: { ...BUDGETS.smoke, latency: { ...BUDGETS.smoke.latency, reps: 3 } },
    e1: {
      sizes,
      series: [
        { id: 'kernel', label: 'fos call, kernel', family: 'fos', points: sizes.map((size) => ({ size, latency: lat(50 + size / 100) })) },
        { id: 'callsync', label: 'fos callSync', family: 'fos', points: sizes.map((size) => ({ size, latency: lat(8 + size / 100) })) },
        { id: 'raw-sab', label: 'raw SAB', family: 'baseline', points: sizes.map((size) => ({ size, latency: lat(0.3) })) },
      ],
    },
    e2: {
      payload: 8,
      rows: [
        { id: 'callsync', label: 'callSync', latency: lat(8) },
        { id: 'fstat', label: 'fstat', latency: lat(1) },
      ],
      ratios: [{ against: 'fstat', label: 'fstat', ratio: ratioOf(lat(8), lat(1)) }],
    },
    e3: { sizes, series: [{ id: 'kernel', label: 'fos send, kernel', family: 'fos', points: sizes.map((size) => ({ size, messagesPerSecond: rate(1e5), megabytesPerSecond: rate(1e5 * size * 1e-6) })) }] },
    e4: {
      payload: 8,
      pairs: 3,
      kernelCalls: [8, 8, 8],
      messages: Array.from({ length: 20 }, (_, i) => ({ index: i + 1, latency: rate(i < 8 ? 60 : 15), transport: i < 8 ? ('kernel' as const) : ('shm' as const) })),
    },
    e5: {
      cores: 2,
      n: 1,
      workMicros: 50,
      depth: 8,
      rows: [
        { servers: 1, clients: 1, oversubscribed: false, work: rate(15_000), echo: rate(60_000) },
        { servers: 2, clients: 1, oversubscribed: true, work: rate(14_000), echo: rate(55_000) },
      ],
      speedup: ratioOf(rate(14_000), rate(15_000)),
    },
    peers: {
      sizes: [8],
      window: 32,
      rows: ['piscina', 'comlink', 'auto', 'callsync'].map((id, i) => ({ id, label: id, family: 'peer' as const, size: 8, roundTrip: lat(10 * (4 - i)), callsPerSecond: rate(1e4 * (i + 1)) })),
    },
  };
}

describe('the report', () => {
  it('has every chart, a reading per section, the machine, and nothing to fetch', () => {
    const html = renderReport(fakeResults());
    const charts = [...html.matchAll(/<svg class="chart" data-chart="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(charts, ['e1', 'e2', 'e3-messages', 'e3-bandwidth', 'e4', 'e5', 'peers-rtt', 'peers-rate']);
    assert.equal(html.match(/<p class="reading">/g)?.length, 6);
    assert.match(html, /Test CPU, 2 cores, 4 GiB, Node\.js v20\.0\.0/);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)|NaN/);
    assert.match(html, /shm from call 9/);
  });

  it('shows only what was measured', () => {
    const { e2, e3, e4, e5, peers, ...onlyE1 } = fakeResults();
    void [e2, e3, e4, e5, peers];
    const html = renderReport(onlyE1);
    assert.deepEqual([...html.matchAll(/data-chart="([^"]+)"/g)].map((m) => m[1]), ['e1']);
    assert.equal((html.match(/data-series=/g) ?? []).length, 3);
  });

  it('the terminal summary heads with the machine and has every table', () => {
    const text = terminalSummary(fakeResults());
    assert.match(text.split('\n')[1]!, /^fos evaluation — Test CPU, 2 cores/);
    for (const t of ['E1 latency', 'E2 callSync', 'E3 one-way', 'E4 the switch', 'E5 fleets (2 cores, N = 1', 'Peers']) assert.ok(text.includes(t), t);
  });
});

describe('readings come from the data', () => {
  it('the thesis claim is judged by the ratio', () => {
    assert.equal(claimVerdict(0.8), 'holds');
    assert.equal(claimVerdict(1.6), 'nearly holds');
    assert.equal(claimVerdict(6), 'does not hold');
    assert.equal(fasterOrSlower(10, 40), '4.00× faster');
    assert.equal(fasterOrSlower(40, 10), '4.00× slower');
  });

  it('E4 names the call the switch happened at, and E5 the cores', () => {
    const r = fakeResults();
    assert.match(e4Reading(r.e4!), /after 8 calls the pair moved to shm, at 15\.0 µs: 4\.00× faster/);
    assert.match(e4Reading({ ...r.e4!, kernelCalls: [8, 9, 8] }), /after 8 to 9 calls/);
    assert.match(e5Reading(r.e5!), /^This machine has 2 cores, so N = 1: a fleet of N is a fleet of 1 here/);
    assert.deepEqual(fleetSizes(2), [1, 2]);
    assert.deepEqual(fleetSizes(8), [1, 7]);
  });
});

describe('fos bench flags and progress', () => {
  it('parses the modes, --out and --only', () => {
    const o = parseOptions(['--quick', '--out', 'x', '--only', 'e1,E4']);
    assert.ok(o !== 'help');
    assert.equal(o.budget.mode, 'quick');
    assert.equal(o.out, 'x');
    assert.deepEqual(o.experiments, ['e1', 'e4']);
    assert.deepEqual((parseOptions(['--peers']) as Exclude<ReturnType<typeof parseOptions>, 'help'>).experiments, ['peers']);
    assert.equal(parseOptions(['--help']), 'help');
    assert.throws(() => parseOptions(['--fast']), /unknown option/);
    assert.throws(() => parseOptions(['--only', 'e9']), /no experiment "e9"/);
    assert.throws(() => parseOptions(['--out']), /needs a value/);
  });

  it('writes one plain line per measured cell when stderr is not a terminal', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const p = new Progress(4, stream);
    p.tick('E1: kernel, 8 B', 'rep 1/2');
    p.tick('E1: kernel, 8 B', 'rep 2/2');
    p.tick('E1: shm, 8 B', 'rep 1/2');
    p.finish();
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^\[ 25%\] 0:00 E1: kernel, 8 B\n$/);
    assert.match(lines[1]!, /^\[ 75%\] .* E1: shm, 8 B\n$/);
    assert.doesNotMatch(lines.join(''), /\r|\x1b/);
  });

  it('figures are written in units a person reads, never in exponents', () => {
    assert.deepEqual([999.7, 999_960, 12_345, 0.5, 87].map(fmtRate), ['1.00 k', '1.00 M', '12.3 k', '0.50', '87']);
    assert.deepEqual([999.96, 1234, 0.729].map(fmtBandwidth), ['1.00 GB/s', '1.23 GB/s', '0.729 MB/s']);
    assert.deepEqual([8, 1024, 262_144].map(fmtBytes), ['8 B', '1 KiB', '256 KiB']);
    assert.deepEqual([0.0056, 7.6, 49.7, 405].map(fmtMicros), ['0.0056', '7.60', '49.7', '405']);
  });

  it('text tables align figures to the right', () => {
    assert.equal(textTable(['name', 'µs'], [['a', '1.5'], ['bbb', '10']]), 'name   µs\na     1.5\nbbb    10');
  });
});
