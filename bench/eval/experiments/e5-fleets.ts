// E5, fleets: calls per second from N client isolates to a fleet of 1 and of
// N servers, N = cores - 1. Each call either does 50 µs of work on its
// server (a service worth spreading) or is a bare echo (messaging alone).
import { availableParallelism } from 'node:os';
import { ratioOf, spreadOf, type Ratio, type Spread } from '../stats.js';
import { remoteAt, spawnBench, type BenchServer } from '../subjects/bench-service.js';
import type { Experiment, RunContext } from './experiment.js';

export const WORK_MICROS = 50;
/** Calls each client keeps in flight, so that one client can keep several servers busy. */
export const CLIENT_DEPTH = 8;

export interface E5Row {
  readonly servers: number;
  readonly clients: number;
  /** More busy threads (servers and clients) than cores: they take turns. */
  readonly oversubscribed: boolean;
  /** Calls per second, summed over the clients. */
  readonly work: Spread;
  readonly echo: Spread;
}

export interface E5Result {
  readonly cores: number;
  readonly n: number;
  readonly workMicros: number;
  readonly depth: number;
  readonly rows: readonly E5Row[];
  /** The fleet of N (or the largest measured) over the fleet of 1, for calls with work. */
  readonly speedup: Ratio;
}

/** 1 and N; where N is 1 (2 cores), 2 as well, to show what a server without a core of its own does. */
export function fleetSizes(cores: number): number[] {
  const n = Math.max(1, cores - 1);
  return [...new Set([1, n, ...(n < 2 ? [2] : [])])];
}

const KINDS = [
  { key: 'work', method: 'work', args: [WORK_MICROS] },
  { key: 'echo', method: 'echo', args: [1] },
] as const;

async function callsPerSecond(ctx: RunContext, clients: BenchServer, fleet: string, kind: (typeof KINDS)[number], cell: string): Promise<Spread> {
  const { reps } = ctx.budget.latency;
  const load = async (ms: number): Promise<number> => {
    const rates = await Promise.all(clients.refs.map((ref) => remoteAt(ref).drive(fleet, kind.method, [...kind.args], ms, CLIENT_DEPTH)));
    return rates.reduce((a, b) => a + b, 0);
  };
  await load(ctx.budget.fleetMs / 2); // warm-up: every client's pair with every server moves to shm
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    rates.push(await load(ctx.budget.fleetMs));
    ctx.progress.tick(cell, `${kind.key}, rep ${r + 1}/${reps}`);
  }
  return spreadOf(rates);
}

export const e5: Experiment<E5Result> = {
  title: 'E5 fleets',
  ticks: (b) => fleetSizes(availableParallelism()).length * KINDS.length * b.latency.reps,
  async run(ctx) {
    const cores = availableParallelism();
    const n = Math.max(1, cores - 1);
    const clients = await spawnBench(ctx.env, 'e5-clients', { count: n });
    const rows: E5Row[] = [];
    try {
      for (const servers of fleetSizes(cores)) {
        const fleet = await spawnBench(ctx.env, `e5-fleet-${servers}`, { count: servers });
        try {
          const cell = `${this.title}: ${servers} server${servers > 1 ? 's' : ''}, ${n} client${n > 1 ? 's' : ''}`;
          const work = await callsPerSecond(ctx, clients, fleet.name, KINDS[0], cell);
          const echo = await callsPerSecond(ctx, clients, fleet.name, KINDS[1], cell);
          rows.push({ servers, clients: n, oversubscribed: servers + n > cores, work, echo });
        } finally {
          await fleet.stop();
        }
      }
    } finally {
      await clients.stop();
    }
    const one = rows.find((r) => r.servers === 1)!;
    const many = rows.find((r) => r.servers === n && n > 1) ?? rows[rows.length - 1]!;
    return { cores, n, workMicros: WORK_MICROS, depth: CLIENT_DEPTH, rows, speedup: ratioOf(many.work, one.work) };
  },
};
