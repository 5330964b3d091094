// The report's sections on round trips: E1, E2 and the peers comparison.
import type { E1Result } from '../experiments/e1-latency.js';
import type { E2Result } from '../experiments/e2-syscall.js';
import type { PeersResult } from '../experiments/peers.js';
import { fmtBytes, fmtMicros, fmtRange, fmtRate, fmtRatio } from '../format.js';
import { e1Reading, e2Reading, peersReading } from '../readings.js';
import type { Summary } from '../stats.js';
import { barChart } from './bar-chart.js';
import { lineChart } from './line-chart.js';
import { look, sizeColor } from './palette.js';
import { figure, section, table } from './parts.js';

const micros = (s: Summary): string => `median ${fmtMicros(s.median)} µs (repetitions ${fmtRange(s.repMin, s.repMax, fmtMicros)}), p99 ${fmtMicros(s.p99)} µs`;

export function e1Section(r: E1Result, reps: number): string {
  const series = r.series.map((s) => ({
    id: s.id,
    label: s.label,
    color: look(s.id).color,
    dashed: s.family === 'baseline',
    points: s.points.map((p) => ({ x: p.size, y: p.latency.median, lo: p.latency.repMin, hi: p.latency.repMax, note: `${fmtBytes(p.size)}: ${micros(p.latency)}` })),
  }));
  const chart = lineChart({
    chart: 'e1',
    title: 'E1: round-trip latency by payload size, per transport (log-log)',
    x: { label: 'payload size', log: true, ticks: r.sizes, format: fmtBytes },
    y: { label: 'round trip, µs (log)', log: true },
    series,
  });
  const rows = r.series.flatMap((s) => s.points.map((p) => [s.label, fmtBytes(p.size), fmtMicros(p.latency.median), fmtRange(p.latency.repMin, p.latency.repMax, fmtMicros), fmtMicros(p.latency.p99), String(p.latency.samples)]));
  return section({
    id: 'e1',
    title: 'E1 · Latency by transport and payload size',
    reading: e1Reading(r),
    method: `One round trip at a time from the main thread (a call and its answer; for the raw baselines, dashed, a message each way), ${reps} repetitions per point after a warm-up; the dot is the median of the repetitions' medians, the whisker their range.`,
    figures: [figure(chart, series)],
    details: table(['transport', 'size', 'median µs', 'repetitions', 'p99 µs', 'samples'], rows),
  });
}

export function e2Section(r: E2Result, reps: number): string {
  const chart = barChart({
    chart: 'e2',
    title: 'E2: callSync time divided by each yardstick (log)',
    y: { label: 'callSync ÷ yardstick (log)', log: true, format: (v) => `${v}×` },
    baseline: { value: 1, label: 'callSync as fast as the yardstick' },
    groups: r.ratios.map((x) => ({
      label: look(x.against).short,
      bars: [{ label: x.label, value: x.ratio.ratio, lo: x.ratio.low, hi: x.ratio.high, color: look('callsync').color, note: `${fmtRatio(x.ratio.ratio)} (${fmtRange(x.ratio.low, x.ratio.high, fmtRatio)})`, text: fmtRatio(x.ratio.ratio) }],
    })),
  });
  const rows = r.rows.map((x) => [x.label, fmtMicros(x.latency.median), fmtRange(x.latency.repMin, x.latency.repMax, fmtMicros), fmtMicros(x.latency.p99)]);
  const ratios = r.ratios.map((x) => [`callSync ÷ ${x.label}`, fmtRatio(x.ratio.ratio), fmtRange(x.ratio.low, x.ratio.high, fmtRatio)]);
  return section({
    id: 'e2',
    title: 'E2 · The system-call comparison',
    reading: e2Reading(r),
    method: `callSync of an ${r.payload}-byte payload to a polling service on another worker thread, against fs.fstatSync(0), a 1-byte fs.readSync from /dev/zero and a plain function call, timed in turns (${reps} repetitions each); short operations are timed in batches. A bar above 1× means callSync is slower than the yardstick; its whisker spans the ratios the repetitions allow.`,
    figures: [
      figure(chart, [{ label: "1×: callSync as fast as the yardstick (the thesis' claim, against a system call)", color: '#d62728', dashed: true }]),
      table(['operation', 'median µs', 'repetitions', 'p99 µs'], rows, 'e2-table'),
      table(['ratio', 'this run', 'range'], ratios),
    ],
  });
}

export function peersSection(r: PeersResult, reps: number): string {
  const ids = [...new Set(r.rows.map((x) => x.id))];
  const groups = (value: (x: PeersResult['rows'][number]) => { v: number; lo: number; hi: number; note: string }) =>
    ids.map((id) => ({
      label: look(id).short,
      bars: r.rows
        .filter((x) => x.id === id)
        .map((x) => {
          const m = value(x);
          return { label: fmtBytes(x.size), value: m.v, lo: m.lo, hi: m.hi, color: sizeColor(r.sizes.indexOf(x.size)), note: `${fmtBytes(x.size)}: ${m.note}` };
        }),
    }));
  const legend = r.sizes.map((s, i) => ({ label: fmtBytes(s), color: sizeColor(i) }));
  const rtt = barChart({
    chart: 'peers-rtt',
    title: 'Peers: round trip of one call (log)',
    y: { label: 'round trip, µs (log)', log: true },
    groups: groups((x) => ({ v: x.roundTrip.median, lo: x.roundTrip.repMin, hi: x.roundTrip.repMax, note: micros(x.roundTrip) })),
  });
  const rate = barChart({
    chart: 'peers-rate',
    title: `Peers: calls per second with ${r.window} in flight (log)`,
    y: { label: 'calls per second (log)', log: true },
    groups: groups((x) => ({ v: x.callsPerSecond.median, lo: x.callsPerSecond.min, hi: x.callsPerSecond.max, note: `${fmtRate(x.callsPerSecond.median)} calls/s` })),
  });
  const rows = r.rows.map((x) => [x.label, fmtBytes(x.size), fmtMicros(x.roundTrip.median), fmtRange(x.roundTrip.repMin, x.roundTrip.repMax, fmtMicros), fmtMicros(x.roundTrip.p99), fmtRate(x.callsPerSecond.median), fmtRange(x.callsPerSecond.min, x.callsPerSecond.max, fmtRate)]);
  return section({
    id: 'peers',
    title: 'Peers · What users would pick instead',
    reading: peersReading(r),
    method: `An echo call to another worker thread through piscina (a pool of one thread) and comlink, beside fos call (to a default service, 'auto'; and to a polling service over shm) and callSync: one call at a time (${reps} repetitions), then as many calls per second as ${r.window} in flight allow (callSync blocks, so it has one).`,
    figures: [figure(rtt, legend, 'box'), figure(rate, legend, 'box')],
    details: table(['call', 'size', 'median µs', 'repetitions', 'p99 µs', 'calls/s', 'repetitions'], rows),
  });
}
