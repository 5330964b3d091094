/**
 * What a spawned worker thread runs first: its runtime, bound to the main
 * thread's name service and channel broker, then the service module.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { FosError, remoteError, toWire } from '../errors.js';
import { setRuntime } from '../runtime/current.js';
import { importModule } from './module-import.js';
import { Runtime } from '../runtime/runtime.js';
import type { NameEntry } from '../names/registry.js';
import type { KernelLink } from '../transport/kernel/link.js';
import { markDead } from '../transport/shm/doorbell.js';
import { nextTicket } from '../transport/shm/sync-slot.js';
import type { ShmOptions } from '../transport/shm/transport.js';

/** What the main thread hands a worker it spawns. */
export interface WorkerBoot {
  readonly node: string;
  readonly isolate: number;
  readonly module: string;
  readonly data: unknown;
  readonly index: number;
  readonly count: number;
  /** This isolate's control block, and the main thread's. */
  readonly icb: SharedArrayBuffer;
  readonly mainIcb: SharedArrayBuffer;
  readonly poll: boolean;
  readonly shm: ShmOptions;
}

/** What a service module's default export is called with. */
export interface ServiceContext<D = unknown> {
  readonly data: D;
  /** This isolate's place among the `count` that run the module. */
  readonly index: number;
  readonly count: number;
  readonly isolate: number;
  readonly node: string;
}

async function start(boot: WorkerBoot): Promise<void> {
  const port = parentPort!;
  let main: KernelLink | undefined;
  const request = (op: string, arg: unknown): Promise<unknown> => rt.control.request(main!, op, arg);
  const rt: Runtime = new Runtime({
    node: boot.node,
    isolate: boot.isolate,
    names: {
      lookup: (name) => request('lookup', name) as Promise<NameEntry | undefined>,
      bind: async (name, kind, ref) => void (await request('bind', { name, kind, ref })),
    },
    unbind: (ref) => void request('unbind', ref).catch(() => {}),
    connect: (peer) =>
      void request('connect', peer).catch((e: unknown) => rt.peerDown(peer, e instanceof FosError && e.code === 'ENOENT' ? 'ENOENT' : 'ECONNRESET')),
    icb: boot.icb,
    shm: { ...boot.shm, pump: { ...boot.shm.pump, poll: boot.poll } },
    // This thread blocks: the main thread answers into its sync slot.
    lookupSync: (name, timeout) => {
      const ticket = nextTicket();
      main!.postUnacked({ t: 'q', id: 0, op: 'lookupSync', arg: { name, ticket } });
      return rt.shm.icb.slot.await(ticket, { timeout, writerBell: undefined, spinMicros: 50 }) as NameEntry | undefined;
    },
    relayOffer: (peer, sab, capacity) => main!.postUnacked({ t: 'q', id: 0, op: 'relayOffer', arg: { peer, sab, capacity } }),
  });
  main = rt.attachPort(0, port, false, boot.mainIcb);
  // A peer blocked in callSync on this isolate stops waiting when it goes.
  process.on('exit', () => markDead(rt.shm.icb.bell));
  rt.control.handle('stats', () => rt.stats());
  rt.control.handle('names', (names) => rt.names.invalidate(names as string[]));
  // Cut off from the main thread, this isolate can reach no name, port or
  // peer it has not met, nor hear its stop request: it ends, and its exit
  // tells the node, as a crash does.
  rt.onLinkBroken = (peer, why) => {
    if (peer !== 0) return;
    process.emitWarning(`fos: isolate ${boot.isolate} lost its link to the main thread (${why}); it exits`);
    process.exit(1);
  };
  rt.onPush = (ev) => {
    if (ev.type !== 'stop') return;
    // Before anything ends: a peer blocked in callSync on this isolate gets ECLOSED, not ECONNRESET.
    markDead(rt.shm.icb.bell, 'stopped');
    rt.close('service stopped');
    process.exit(0);
  };
  setRuntime(rt);
  try {
    const mod = (await importModule(boot.module)) as { default?: unknown };
    if (typeof mod.default === 'function') {
      const ctx: ServiceContext = { data: boot.data, index: boot.index, count: boot.count, isolate: boot.isolate, node: boot.node };
      await (mod.default as (c: ServiceContext) => unknown)(ctx);
    } else if (rt.openMailboxes === 0) {
      // A module may set itself up as it loads (serve at its top level); one that did nothing would idle forever.
      throw new FosError('EINVAL', `${boot.module} has no default export function and opened no mailbox as it loaded: nothing would run (export default function (ctx) { ... })`);
    }
    await rt.settled();
    await request('ready', null);
  } catch (e) {
    const err = e instanceof FosError ? e : remoteError(e);
    await request('ready', toWire(err)).catch(() => {});
  }
}

if (!isMainThread && parentPort !== null) void start(workerData as WorkerBoot);
