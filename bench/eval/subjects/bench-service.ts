// Starting the bench service (services/bench-service.ts) on worker threads.
import { connect, lookup, type Ref, type Remote, type SpawnOptions } from '../../../src/index.js';
import type { BenchService } from '../services/bench-service.js';
import type { Env } from './subject.js';

const SERVICE = new URL('../services/bench-service.js', import.meta.url);

export interface BenchServer {
  readonly name: string;
  /** The first (or only) member's ref. */
  readonly ref: Ref;
  readonly refs: readonly Ref[];
  /** Calls by the fleet name: round robin over its members. */
  readonly remote: Remote<BenchService>;
  stop(): Promise<void>;
}

export async function spawnBench(env: Env, what: string, opts: Omit<SpawnOptions, 'data'> = {}): Promise<BenchServer> {
  const name = env.name(what);
  const svc = await env.node.spawn(SERVICE, { ...opts, data: { name } });
  const refs = await lookup(name);
  return { name, ref: refs[0]!, refs, remote: connect<BenchService>(name, { timeout: 120_000 }), stop: () => svc.stop() };
}

/** The bench service as seen through one member's ref. */
export function remoteAt(ref: Ref): Remote<BenchService> {
  return connect<BenchService>(ref, { timeout: 120_000 });
}
