// One line under each chart saying what it shows, written from the
// figures of this run: which is fastest, by how much, whether the
// thesis' claim holds here. Nothing in them is fixed in advance.
import type { E1Result } from './experiments/e1-latency.js';
import type { E2Result } from './experiments/e2-syscall.js';
import type { E3Result } from './experiments/e3-throughput.js';
import type { E4Result } from './experiments/e4-switch.js';
import type { E5Result } from './experiments/e5-fleets.js';
import type { PeersResult } from './experiments/peers.js';
import { fmtBandwidth, fmtBytes, fmtMicros, fmtRate, fmtRatio } from './format.js';
import { median } from './stats.js';

export function e1Reading(r: E1Result): string {
  const [small, large] = [r.sizes[0]!, r.sizes[r.sizes.length - 1]!];
  const at = (size: number) => (s: E1Result['series'][number]) => s.points.find((p) => p.size === size)?.latency.median ?? NaN;
  // Within the node: threads of one process. tcp (another process) is read on its own, against its own floor.
  const crossThread = r.series.filter((s) => s.family === 'fos' && s.id !== 'local' && s.id !== 'tcp').sort((a, b) => at(small)(a) - at(small)(b));
  const tcp = r.series.find((s) => s.id === 'tcp');
  const rawNet = r.series.find((s) => s.id === 'raw-net');
  const betweenNodes =
    tcp !== undefined && rawNet !== undefined
      ? ` Between two node processes, ${tcp.label} takes ${fmtMicros(at(small)(tcp))} µs, ${fmtRatio(at(small)(tcp) / at(small)(rawNet))} ${rawNet.label} (${fmtMicros(at(small)(rawNet))} µs).`
      : '';
  const fastest = crossThread[0];
  const slowest = crossThread[crossThread.length - 1];
  if (fastest === undefined || slowest === undefined) return 'No fos transport between threads was measured.';
  const floors = r.series.filter((s) => s.family === 'baseline').map((s) => `${s.label} ${fmtMicros(at(small)(s))} µs`);
  const bigAll = r.series.map(at(large)).filter(Number.isFinite);
  return (
    `At ${fmtBytes(small)}, the fastest round trip to another thread is ${fastest.label} at ${fmtMicros(at(small)(fastest))} µs, ` +
    `${fasterOrSlower(at(small)(fastest), at(small)(slowest))} than ${slowest.label} (${fmtMicros(at(small)(slowest))} µs)` +
    (floors.length ? `; the raw floors are ${floors.join(', ')}` : '') +
    '.' +
    betweenNodes +
    (bigAll.length ? ` At ${fmtBytes(large)} every round trip takes ${fmtMicros(Math.min(...bigAll))} to ${fmtMicros(Math.max(...bigAll))} µs: copying the payload dominates.` : '')
  );
}

/** `a` against `b`, both times: "3.2× faster" or "1.5× slower". */
export function fasterOrSlower(a: number, b: number): string {
  const r = b / a;
  if (!Number.isFinite(r)) return 'not comparable';
  return r >= 1 ? `${fmtRatio(r)} faster` : `${fmtRatio(1 / r)} slower`;
}

/** How the thesis' claim ("a call to another core costs about a system call") fares at this ratio. */
export function claimVerdict(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'cannot be judged';
  if (ratio <= 1.25) return 'holds';
  if (ratio <= 2) return 'nearly holds';
  return 'does not hold';
}

export function e2Reading(r: E2Result): string {
  const sync = r.rows[0]!;
  const parts = r.ratios.map((x) => `${fmtRatio(x.ratio.ratio)} ${x.label} (${fmtMicros(r.rows.find((y) => y.id === x.against)!.latency.median)} µs)`);
  const sys = r.ratios.find((x) => x.against === 'fstat')?.ratio.ratio ?? NaN;
  return `callSync to a polling service on another core takes ${fmtMicros(sync.latency.median)} µs: ${parts.join(', ')}. The thesis' claim that such a call costs about a system call ${claimVerdict(sys)} on this machine.`;
}

export function e3Reading(r: E3Result): string {
  const [small, large] = [r.sizes[0]!, r.sizes[r.sizes.length - 1]!];
  // fos's own transports: the baselines (a bare ring among them) are what they are measured against.
  const pick = (size: number, key: 'messagesPerSecond' | 'megabytesPerSecond') =>
    r.series
      .filter((s) => s.family === 'fos')
      .map((s) => ({ s, v: s.points.find((p) => p.size === size)?.[key].median ?? NaN }))
      .filter((x) => Number.isFinite(x.v))
      .sort((a, b) => b.v - a.v)[0];
  const most = pick(small, 'messagesPerSecond');
  const bytes = pick(large, 'megabytesPerSecond');
  if (most === undefined || bytes === undefined) return 'No throughput was measured.';
  return `Most messages per second at ${fmtBytes(small)}: ${most.s.label}, ${fmtRate(most.v)} msg/s; most bytes per second at ${fmtBytes(large)}: ${bytes.s.label}, ${fmtBandwidth(bytes.v)}.`;
}

export function e4Reading(r: E4Result): string {
  const k = Math.min(...r.kernelCalls);
  const kMax = Math.max(...r.kernelCalls);
  const first = r.messages[0]?.latency.median ?? NaN;
  const kernel = median(r.messages.filter((m) => m.index > 1 && m.transport === 'kernel').map((m) => m.latency.median));
  const shm = median(r.messages.filter((m) => m.transport === 'shm').map((m) => m.latency.median));
  if (!Number.isFinite(shm)) return `No pair moved to shm within ${r.messages.length} calls; the first call took ${fmtMicros(first)} µs.`;
  const after = k === kMax ? `${k} calls` : `${k} to ${kMax} calls`;
  return (
    `The first call of a new pair took ${fmtMicros(first)} µs; the next went by kernel at ${fmtMicros(kernel)} µs (median), ` +
    `and after ${after} the pair moved to shm, at ${fmtMicros(shm)} µs: ${fasterOrSlower(shm, kernel)}.`
  );
}

export function e5Reading(r: E5Result): string {
  const one = r.rows.find((x) => x.servers === 1);
  const many = r.rows[r.rows.length - 1];
  if (one === undefined || many === undefined) return 'No fleet was measured.';
  const cores = `This machine has ${r.cores} core${r.cores > 1 ? 's' : ''}, so N = ${r.n}`;
  const fleet = `with ${r.workMicros} µs of work per call, ${many.servers} servers answered ${fmtRate(many.work.median)} calls/s against ${fmtRate(one.work.median)} for one (${fmtRatio(many.work.median / one.work.median)} as many)`;
  const note = r.n === 1 ? ': a fleet of N is a fleet of 1 here, and a second server has no core of its own' : '';
  return `${cores}${note}; ${fleet}.`;
}

export function peersReading(r: PeersResult): string {
  const size = r.sizes[0]!;
  const row = (id: string) => r.rows.find((x) => x.id === id && x.size === size);
  const fos = row('auto') ?? row('shm-polling');
  if (fos === undefined) return 'fos was not measured.';
  const others = ['piscina', 'comlink'].map(row).filter((x) => x !== undefined);
  const vs = others.map((o) => `${o.label} ${fmtMicros(o.roundTrip.median)} µs (fos is ${fasterOrSlower(fos.roundTrip.median, o.roundTrip.median)})`);
  const sync = row('callsync');
  return (
    `At ${fmtBytes(size)}, a ${fos.label} takes ${fmtMicros(fos.roundTrip.median)} µs against ${vs.join(' and ')}` +
    (sync ? `; callSync ${fmtMicros(sync.roundTrip.median)} µs` : '') +
    '.'
  );
}
