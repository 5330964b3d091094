// `npm run bench:micro`: round trips and one-way throughput of fos's
// transports against the baselines they are meant to beat or match, all
// measured in this run on this machine. Every figure is a median over
// repetitions; ratios compare figures of the same run.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { wrap, type Remote as ComlinkRemote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Piscina } from 'piscina';
import { boot, call, callSync, connect, send, type FosNode, type Ref } from '../src/index.js';
import type { BenchService } from './fos-service.js';
import { fmt, machine, summarize, type Summary } from './summary.js';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 5;
const SLOW_OPS = QUICK ? 300 : 1000; // per repetition, for operations of ~10-100 µs
const FAST_OPS = QUICK ? 20_000 : 100_000; // per repetition, for sub-µs operations
const BATCH = 100; // sub-µs operations are timed in batches of this many
const ONE_WAY = QUICK ? 50_000 : 200_000;
const SIZES = [8, 1024];

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const payloadOf = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => i & 0xff);

interface Row {
  readonly name: string;
  readonly size: number;
  readonly s: Summary;
}
const rows: Row[] = [];
const progress = (line: string): void => void process.stderr.write(`${line}\n`);

async function timeAsync(op: () => Promise<unknown>, n = SLOW_OPS): Promise<number[][]> {
  for (let i = 0; i < Math.min(n, 500); i++) await op();
  const reps: number[][] = [];
  for (let r = 0; r < REPS; r++) {
    const t: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await op();
      t.push((performance.now() - t0) * 1000);
    }
    reps.push(t);
  }
  return reps;
}

/** Sub-µs operations: each sample is the mean of a batch, since one timer read costs about as much as the operation. */
function timeSync(op: () => unknown, n = FAST_OPS): number[][] {
  for (let i = 0; i < Math.min(n, 5000); i++) op();
  const reps: number[][] = [];
  for (let r = 0; r < REPS; r++) {
    const t: number[] = [];
    for (let b = 0; b < n / BATCH; b++) {
      const t0 = performance.now();
      for (let i = 0; i < BATCH; i++) op();
      t.push(((performance.now() - t0) * 1000) / BATCH);
    }
    reps.push(t);
  }
  return reps;
}

function record(name: string, size: number, reps: number[][]): Summary {
  const s = summarize(reps);
  rows.push({ name, size, s });
  progress(`  ${name.padEnd(44)} ${String(size).padStart(5)} B  median ${fmt(s.median)} µs  p99 ${fmt(s.p99)} µs`);
  return s;
}

// ---- baselines --------------------------------------------------------------

async function rawMessagePort(size: number): Promise<Summary> {
  const w = new Worker(here('./workers/raw-port.js'));
  let answer: (() => void) | undefined;
  w.on('message', () => answer?.());
  const payload = payloadOf(size);
  const s = record('raw MessagePort ping-pong', size, await timeAsync(() => new Promise<void>((r) => ((answer = r), w.postMessage(payload)))));
  await w.terminate();
  return s;
}

async function rawSab(size: number): Promise<Summary> {
  const sab = new SharedArrayBuffer(128 + 2 * size);
  const w = new Worker(here('./workers/raw-sab.js'), { workerData: { sab, size } });
  const ctl = new Int32Array(sab, 0, 32);
  const ping = new Uint8Array(sab, 128, size);
  const pong = new Uint8Array(sab, 128 + size, size);
  const payload = payloadOf(size);
  const out = new Uint8Array(size);
  let seq = 0;
  await new Promise((r) => setTimeout(r, 50));
  const s = record(
    'raw SharedArrayBuffer spin ping-pong (floor)',
    size,
    timeSync(() => {
      ping.set(payload);
      Atomics.store(ctl, 0, ++seq);
      while (Atomics.load(ctl, 1) !== seq);
      out.set(pong);
    }),
  );
  Atomics.store(ctl, 0, -1);
  await w.terminate();
  return s;
}

function fstat(): Summary {
  let fd = 0;
  let label = 'fs.fstatSync(0) (a system call)';
  try {
    fstatSync(0);
  } catch {
    fd = openSync(here('./micro.js'), 'r'); // no standard input here: an fd of our own
    label = 'fs.fstatSync(fd) (a system call)';
  }
  const s = record(label, 0, timeSync(() => fstatSync(fd)));
  if (fd !== 0) closeSync(fd);
  return s;
}

async function piscina(size: number): Promise<Summary> {
  const pool = new Piscina({ filename: here('./workers/piscina-echo.js'), minThreads: 1, maxThreads: 1 });
  const payload = payloadOf(size);
  const s = record('piscina run()', size, await timeAsync(() => pool.run(payload)));
  await pool.destroy();
  return s;
}

async function comlink(size: number): Promise<Summary> {
  const w = new Worker(here('./workers/comlink-echo.js'));
  const remote = wrap<{ echo(x: Uint8Array): Uint8Array }>(nodeEndpoint(w)) as ComlinkRemote<{ echo(x: Uint8Array): Uint8Array }>;
  const payload = payloadOf(size);
  const s = record('comlink call', size, await timeAsync(() => remote.echo(payload)));
  await w.terminate();
  return s;
}

// ---- fos ----------------------------------------------------------------------

const SERVICE = new URL('./fos-service.js', import.meta.url);

async function fosRoundTrips(node: FosNode, size: number): Promise<Record<string, Summary>> {
  const payload = payloadOf(size);
  const out: Record<string, Summary> = {};
  const parked = await node.spawn(SERVICE, { data: { name: '/bench/parked' } });
  const viaName = async (name: string): Promise<Ref> => {
    const [ref] = await (await import('../src/index.js')).lookup(name);
    return ref!;
  };
  const parkedRef = await viaName('/bench/parked');
  out.kernelCall = record('fos call, kernel', size, await timeAsync(() => call(parkedRef, 'echo', [payload], { transport: 'kernel' })));
  out.shmCallParked = record('fos call, shm, receiver parked', size, await timeAsync(() => call(parkedRef, 'echo', [payload], { transport: 'shm' })));
  await parked.stop();

  const polling = await node.spawn(SERVICE, { data: { name: '/bench/polling' }, poll: true });
  const pollRef = await viaName('/bench/polling');
  out.shmCallPolling = record('fos call, shm, polling service', size, await timeAsync(() => call(pollRef, 'echo', [payload], { transport: 'shm' })));
  out.callSync = record('fos callSync, polling service', size, timeSync(() => callSync(pollRef, 'echo', [payload]), QUICK ? 5000 : 20_000));
  await polling.stop();

  // Message round trips between two polling isolates: mailbox to mailbox.
  const a = await node.spawn(SERVICE, { data: { name: '/bench/ping' }, poll: true });
  const b = await node.spawn(SERVICE, { data: { name: '/bench/pong' }, poll: true });
  const pinger = connect<BenchService>('/bench/ping', { timeout: 120_000 });
  const ponger = await connect<BenchService>('/bench/pong').ponger();
  out.shmPingPolling = record('fos send/receive, shm, both polling', size, await pinger.ping(ponger, payload, REPS, QUICK ? 2000 : 10_000, 'shm'));
  out.kernelPingPolling = record('fos send/receive, kernel, both polling', size, await pinger.ping(ponger, payload, REPS, SLOW_OPS, 'kernel'));
  await Promise.all([a.stop(), b.stop()]);
  return out;
}

interface Throughput {
  readonly name: string;
  readonly perSecond: number[];
  readonly bytes: number;
}
const throughputs: Throughput[] = [];

async function oneWay(name: string, bytes: number, runOnce: () => Promise<number>): Promise<number> {
  await runOnce(); // warm-up
  const perSecond: number[] = [];
  for (let r = 0; r < REPS; r++) perSecond.push(await runOnce());
  perSecond.sort((x, y) => x - y);
  throughputs.push({ name, perSecond, bytes });
  const median = perSecond[Math.floor(perSecond.length / 2)]!;
  progress(`  ${name.padEnd(52)} ${(median / 1e6).toFixed(2)} M msg/s`);
  return median;
}

async function rawPortThroughput(): Promise<number> {
  const w = new Worker(here('./workers/raw-port.js'));
  const payload = payloadOf(8);
  const m = await oneWay('raw MessagePort one-way, 8 B', 8, async () => {
    const done = new Promise((r) => w.once('message', r));
    const t0 = performance.now();
    w.postMessage({ count: ONE_WAY });
    for (let i = 0; i < ONE_WAY; i++) w.postMessage(payload);
    await done;
    return ONE_WAY / ((performance.now() - t0) / 1000);
  });
  await w.terminate();
  return m;
}

async function fosThroughput(node: FosNode, transport: 'kernel' | 'shm', poll: boolean, data: unknown, label: string, bytes: number): Promise<number> {
  const name = `/bench/sink/${transport}/${label.replace(/[^A-Za-z0-9]+/g, '-')}`;
  const svc = await node.spawn(SERVICE, { data: { name }, poll });
  const sinkSvc = connect<BenchService>(name, { timeout: 120_000 });
  const sink = await sinkSvc.sink();
  let total = 0;
  const m = await oneWay(`fos send one-way, ${transport}${poll ? ', polling sink' : ''}, ${label}`, bytes, async () => {
    const t0 = performance.now();
    let batch: Promise<void>[] = [];
    for (let i = 0; i < ONE_WAY; i++) {
      batch.push(send(sink, data, { transport }));
      if (batch.length === 4096) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
    total += ONE_WAY;
    const got = await sinkSvc.sunk(total);
    if (got !== total) throw new Error(`the sink counted ${got} of ${total}`);
    return ONE_WAY / ((performance.now() - t0) / 1000);
  });
  await svc.stop();
  return m;
}

// ---- report -------------------------------------------------------------------

function find(name: string, size: number): Summary | undefined {
  return rows.find((r) => r.name.startsWith(name) && r.size === size)?.s;
}

interface Target {
  readonly what: string;
  readonly ratio: number;
  readonly ok: boolean;
  readonly goal: string;
}

function targets(fstatS: Summary, sabThroughputTarget: number): Target[] {
  const t: Target[] = [];
  const add = (what: string, ratio: number | undefined, goal: string, ok: (r: number) => boolean): void => {
    if (ratio !== undefined && Number.isFinite(ratio)) t.push({ what, ratio, ok: ok(ratio), goal });
  };
  const sync8 = find('fos callSync', 8);
  add('callSync (polling service) / fstatSync, 8 B', sync8 && sync8.median / fstatS.median, '<= 1.0', (r) => r <= 1);
  const ping8 = find('fos send/receive, shm, both polling', 8);
  const sab8 = find('raw SharedArrayBuffer', 8);
  add('shm send/receive RTT (both polling) / raw SAB spin, 8 B', ping8 && sab8 && ping8.median / sab8.median, '<= 1.5', (r) => r <= 1.5);
  for (const size of SIZES) {
    const fosCall = find('fos call, shm, polling service', size);
    const pis = find('piscina run()', size);
    const com = find('comlink call', size);
    add(`piscina run() / fos call (polling service), ${size} B`, pis && fosCall && pis.median / fosCall.median, '>= 20', (r) => r >= 20);
    add(`comlink call / fos call (polling service), ${size} B`, com && fosCall && com.median / fosCall.median, '>= 20', (r) => r >= 20);
    const k = find('fos call, kernel', size);
    const raw = find('raw MessagePort', size);
    add(`fos kernel call RTT / raw MessagePort ping-pong, ${size} B`, k && raw && k.median / raw.median, '<= 1.15', (r) => r <= 1.15);
  }
  add('shm one-way throughput, 8 B Uint8Array (M msg/s) / 10', sabThroughputTarget / 1e6 / 10, '>= 1.0', (r) => r >= 1);
  return t;
}

async function main(): Promise<void> {
  progress(`fos micro benchmarks on ${machine()}${QUICK ? ' (quick)' : ''}`);
  progress('round trips:');
  const fstatS = fstat();
  for (const size of SIZES) {
    await rawMessagePort(size);
    await rawSab(size);
    await piscina(size);
    await comlink(size);
  }
  const node = await boot({ name: 'bench' });
  try {
    for (const size of SIZES) await fosRoundTrips(node, size);
    progress('one-way throughput:');
    await rawPortThroughput();
    await fosThroughput(node, 'kernel', false, payloadOf(8), '8 B Uint8Array', 8);
    const shm8 = await fosThroughput(node, 'shm', true, payloadOf(8), '8 B Uint8Array', 8);
    await fosThroughput(node, 'shm', true, { id: 7, name: 'small' }, 'small object', 0);

    const lines: string[] = [];
    lines.push(`\nfos micro benchmarks — ${machine()}`);
    lines.push(`${REPS} repetitions; medians over all samples, p99, and the spread of per-repetition medians (µs per round trip)\n`);
    lines.push(`${'round trip'.padEnd(46)} ${'size'.padStart(6)} ${'median'.padStart(8)} ${'p99'.padStart(8)} ${'spread'.padStart(16)}`);
    for (const r of rows) {
      lines.push(
        `${r.name.padEnd(46)} ${`${r.size} B`.padStart(6)} ${fmt(r.s.median).padStart(8)} ${fmt(r.s.p99).padStart(8)} ${`${fmt(r.s.repMin)}-${fmt(r.s.repMax)}`.padStart(16)}`,
      );
    }
    lines.push(`\n${'one-way throughput'.padEnd(62)} ${'M msg/s'.padStart(8)} ${'MB/s'.padStart(8)}`);
    for (const t of throughputs) {
      const m = t.perSecond[Math.floor(t.perSecond.length / 2)]!;
      lines.push(`${t.name.padEnd(62)} ${(m / 1e6).toFixed(2).padStart(8)} ${t.bytes ? ((m * t.bytes) / 1e6).toFixed(1).padStart(8) : '-'.padStart(8)}`);
    }
    lines.push(`\n${'target (ratio of medians, this run)'.padEnd(62)} ${'ratio'.padStart(8)}  goal      met`);
    for (const t of targets(fstatS, shm8)) lines.push(`${t.what.padEnd(62)} ${t.ratio.toFixed(2).padStart(8)}  ${t.goal.padEnd(8)}  ${t.ok ? 'yes' : 'NO'}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await node.shutdown();
  }
}

await main();
