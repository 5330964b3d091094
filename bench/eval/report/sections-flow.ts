// The report's sections on streams and load: E3, E4 and E5.
import type { E3Result } from '../experiments/e3-throughput.js';
import type { E4Result } from '../experiments/e4-switch.js';
import type { E5Result } from '../experiments/e5-fleets.js';
import { fmtBandwidth, fmtBytes, fmtMicros, fmtRange, fmtRate, fmtRatio } from '../format.js';
import { e3Reading, e4Reading, e5Reading } from '../readings.js';
import { barChart } from './bar-chart.js';
import { lineChart } from './line-chart.js';
import { CARRIER_COLORS, look, sizeColor } from './palette.js';
import { figure, section, table } from './parts.js';

export function e3Section(r: E3Result, reps: number): string {
  const series = (key: 'messagesPerSecond' | 'megabytesPerSecond', fmt: (v: number) => string) =>
    r.series.map((s) => ({
      id: s.id,
      label: s.label,
      color: look(s.id).color,
      dashed: s.family === 'baseline',
      points: s.points.map((p) => ({ x: p.size, y: p[key].median, lo: p[key].min, hi: p[key].max, note: `${fmtBytes(p.size)}: ${fmt(p[key].median)} (repetitions ${fmtRange(p[key].min, p[key].max, fmt)})` })),
    }));
  const x = { label: 'payload size', log: true, ticks: r.sizes, format: fmtBytes };
  const msgs = series('messagesPerSecond', (v) => `${fmtRate(v)} msg/s`);
  const messages = lineChart({ chart: 'e3-messages', title: 'E3: one-way messages per second by payload size (log-log)', x, y: { label: 'messages per second (log)', log: true }, series: msgs });
  const bandwidth = lineChart({ chart: 'e3-bandwidth', title: 'E3: one-way MB/s by payload size (log-log)', x, y: { label: 'MB per second (log)', log: true }, series: series('megabytesPerSecond', fmtBandwidth) });
  const rows = r.series.flatMap((s) =>
    s.points.map((p) => [s.label, fmtBytes(p.size), fmtRate(p.messagesPerSecond.median), fmtRange(p.messagesPerSecond.min, p.messagesPerSecond.max, fmtRate), fmtBandwidth(p.megabytesPerSecond.median)]),
  );
  return section({
    id: 'e3',
    title: 'E3 · Throughput by transport and payload size',
    reading: e3Reading(r),
    method: `The main thread sends one-way messages for a fixed time with a window of sends in flight (each send settles when its message is in the mailbox); the receiver counts every message, and a repetition ends only when the count is complete. ${reps} repetitions per point; whiskers are their range.`,
    figures: [figure(messages, msgs), figure(bandwidth)],
    details: table(['transport', 'size', 'messages/s', 'repetitions', 'bandwidth'], rows),
  });
}

export function e4Section(r: E4Result): string {
  const k = Math.min(...r.kernelCalls);
  const points = r.messages.map((m) => ({
    x: m.index,
    y: m.latency.median,
    lo: m.latency.min,
    hi: m.latency.max,
    color: CARRIER_COLORS[m.transport],
    note: `call ${m.index} by ${m.transport}: median ${fmtMicros(m.latency.median)} µs (pairs ${fmtRange(m.latency.min, m.latency.max, fmtMicros)})`,
  }));
  const chart = lineChart({
    chart: 'e4',
    title: `E4: round trip of calls 1 to ${r.messages.length} of a new pair under 'auto'`,
    x: { label: 'call number of a new pair', log: false },
    y: { label: 'round trip, µs (log)', log: true },
    series: [{ id: 'calls', label: 'calls', color: '#999999', points }],
    markers: Number.isFinite(k) && k < r.messages.length ? [{ x: k + 0.5, label: `shm from call ${k + 1}` }] : [],
  });
  const carriers = (['kernel', 'shm', 'mixed'] as const).filter((c) => r.messages.some((m) => m.transport === c));
  const rows = r.messages.map((m) => [String(m.index), m.transport, fmtMicros(m.latency.median), fmtRange(m.latency.min, m.latency.max, fmtMicros)]);
  return section({
    id: 'e4',
    title: 'E4 · The switch from kernel to shm',
    reading: e4Reading(r),
    method: `${r.pairs} times, a service is spawned on a new worker thread and called ${r.messages.length} times in a row with ${r.payload}-byte payloads under 'auto'; each dot is the median over the pairs of that call's round trip, the whisker their range. The main thread's counters tell which transport carried each call (kernel calls per pair: ${r.kernelCalls.join(', ')}).`,
    figures: [figure(chart, carriers.map((c) => ({ label: `by ${c}`, color: CARRIER_COLORS[c] })), 'box')],
    details: table(['call', 'by', 'median µs', 'range over pairs'], rows),
  });
}

export function e5Section(r: E5Result, reps: number): string {
  const kinds = [
    { key: 'work', label: `${r.workMicros} µs of work per call` },
    { key: 'echo', label: 'echo (no work)' },
  ] as const;
  const chart = barChart({
    chart: 'e5',
    title: 'E5: calls per second against fleets of 1 and N servers',
    y: { label: 'calls per second', log: false },
    groups: r.rows.map((row) => ({
      label: `${row.servers} server${row.servers > 1 ? 's' : ''}`,
      bars: kinds.map((k, i) => ({ label: k.label, value: row[k.key].median, lo: row[k.key].min, hi: row[k.key].max, color: sizeColor(i), note: `${fmtRate(row[k.key].median)} calls/s` })),
    })),
  });
  const one = r.rows.find((x) => x.servers === 1);
  const rows = r.rows.map((x) => [
    `${x.servers} server${x.servers > 1 ? 's' : ''}`,
    String(x.clients),
    x.oversubscribed ? `yes (${x.servers + x.clients} busy threads)` : 'no',
    `${fmtRate(x.work.median)} (${fmtRange(x.work.min, x.work.max, fmtRate)})`,
    one ? fmtRatio(x.work.median / one.work.median) : '-',
    `${fmtRate(x.echo.median)} (${fmtRange(x.echo.min, x.echo.max, fmtRate)})`,
  ]);
  return section({
    id: 'e5',
    title: `E5 · Fleets (this machine: ${r.cores} cores, N = ${r.n})`,
    reading: e5Reading(r),
    method: `${r.n} client isolate${r.n > 1 ? 's' : ''} (N = cores − 1 = ${r.n}) each keep ${r.depth} calls in flight to a fleet name, round robin over its members, for a fixed time; calls per second are summed over the clients, ${reps} repetitions per figure.`,
    figures: [table(['fleet', 'clients', 'more threads than cores', 'calls/s with work (range)', 'vs 1 server', 'calls/s, echo (range)'], rows, 'e5-table'), figure(chart, kinds.map((k, i) => ({ label: k.label, color: sizeColor(i) })), 'box')],
  });
}
