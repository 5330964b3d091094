// The summary printed at the end of `fos bench`: every figure of the run,
// median with the spread of its repetitions, and the readings.
import { fmtBandwidth, fmtBytes, fmtMicros, fmtRange, fmtRate, fmtRatio } from './format.js';
import { describeMachine } from './machine.js';
import { e1Reading, e2Reading, e3Reading, e4Reading, e5Reading, peersReading } from './readings.js';
import type { Results } from './results.js';
import type { Spread, Summary } from './stats.js';
import { textTable } from './text-table.js';

const latency = (s: Summary | undefined): string => (s === undefined ? '-' : `${fmtMicros(s.median)} (${fmtRange(s.repMin, s.repMax, fmtMicros)})`);
const rate = (s: Spread | undefined, f: (v: number) => string = fmtRate): string => (s === undefined ? '-' : `${f(s.median)} (${fmtRange(s.min, s.max, f)})`);

function section(title: string, body: string, reading: string): string {
  return `\n${title}\n${body}\n→ ${reading}\n`;
}

export function terminalSummary(r: Results): string {
  const out: string[] = [];
  out.push(`\nfos evaluation — ${describeMachine(r.machine)}`);
  out.push(
    `${r.budget.mode} run of ${r.seconds.toFixed(0)} s, ${r.budget.latency.reps} repetitions per figure: each is the median of the repetitions, (lowest-highest) beside it`,
  );
  if (r.e1) {
    const header = ['E1 round trip, µs', ...r.e1.sizes.map(fmtBytes)];
    const medians = r.e1.series.map((s) => [s.label, ...r.e1!.sizes.map((size) => latency(s.points.find((p) => p.size === size)?.latency))]);
    const p99 = r.e1.series.map((s) => [s.label, ...r.e1!.sizes.map((size) => fmtMicros(s.points.find((p) => p.size === size)?.latency.p99 ?? NaN))]);
    out.push(section('E1 latency by transport and size', `${textTable(header, medians)}\n\n${textTable(['E1 p99, µs', ...header.slice(1)], p99)}`, e1Reading(r.e1)));
  }
  if (r.e2) {
    const rows = r.e2.rows.map((x) => [x.label, latency(x.latency), fmtMicros(x.latency.p99)]);
    const ratios = r.e2.ratios.map((x) => [`callSync / ${x.label}`, `${fmtRatio(x.ratio.ratio)} (${fmtRange(x.ratio.low, x.ratio.high, fmtRatio)})`]);
    out.push(section('E2 callSync against a system call', `${textTable(['operation', 'µs', 'p99'], rows)}\n\n${textTable(['ratio', 'this run'], ratios)}`, e2Reading(r.e2)));
  }
  if (r.e3) {
    const at = (s: NonNullable<Results['e3']>['series'][number], size: number) => s.points.find((p) => p.size === size);
    const msgs = r.e3.series.map((s) => [s.label, ...r.e3!.sizes.map((size) => rate(at(s, size)?.messagesPerSecond))]);
    const mb = r.e3.series.map((s) => [s.label, ...r.e3!.sizes.map((size) => fmtBandwidth(at(s, size)?.megabytesPerSecond.median ?? NaN))]);
    const sizes = r.e3.sizes.map(fmtBytes);
    out.push(section('E3 one-way throughput', `${textTable(['E3 messages/s', ...sizes], msgs)}\n\n${textTable(['E3 bandwidth', ...sizes], mb)}`, e3Reading(r.e3)));
  }
  if (r.e4) {
    const shown = r.e4.messages.filter((m) => m.index <= 12 || m.index % 25 === 0);
    const rows = shown.map((m) => [String(m.index), m.transport, `${fmtMicros(m.latency.median)} (${fmtRange(m.latency.min, m.latency.max, fmtMicros)})`]);
    out.push(section(`E4 the switch (${r.e4.pairs} new pairs, calls 1 to ${r.e4.messages.length}; some shown)`, textTable(['call', 'by', 'µs'], rows), e4Reading(r.e4)));
  }
  if (r.e5) {
    const rows = r.e5.rows.map((x) => [String(x.servers), String(x.clients), x.oversubscribed ? 'yes' : 'no', rate(x.work), rate(x.echo)]);
    const title = `E5 fleets (${r.e5.cores} cores, N = ${r.e5.n}; ${r.e5.depth} calls in flight per client)`;
    out.push(section(title, textTable(['servers', 'clients', 'threads > cores', `calls/s, ${r.e5.workMicros} µs work`, 'calls/s, echo'], rows), e5Reading(r.e5)));
  }
  if (r.peers) {
    const rows = r.peers.rows.map((x) => [x.label, fmtBytes(x.size), latency(x.roundTrip), fmtMicros(x.roundTrip.p99), rate(x.callsPerSecond)]);
    const title = `Peers: one call at a time, and calls/s with ${r.peers.window} in flight`;
    out.push(section(title, textTable(['call', 'size', 'round trip µs', 'p99', 'calls/s'], rows), peersReading(r.peers)));
  }
  return out.join('\n');
}
