/**
 * `boot()` and the node it returns: the main thread's runtime, the hub, and
 * the services spawned on worker threads.
 */
import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FosError, fromWire, type WireError } from '../errors.js';
import type { ReplyEnvelope } from '../envelope.js';
import { MAX_TIMER_MS } from '../rpc/calls.js';
import type { NameListing } from '../names/registry.js';
import { currentRuntime, setRuntime } from '../runtime/current.js';
import { Runtime } from '../runtime/runtime.js';
import { newIcb } from '../transport/shm/icb.js';
import { checkShmOptions, type ShmOptions } from '../transport/shm/transport.js';
import type { IsolateStats } from '../runtime/stats.js';
import { checkAdvertised, isLoopback, parseHostPort } from '../transport/tcp/address.js';
import { Proxy, type TcpOptions, type TlsOptions } from '../transport/tcp/proxy.js';
import type { ReplyFrame } from '../transport/kernel/frames.js';
import { serveOn } from '../rpc/serve.js';
import type { Inbound } from '../runtime/mailbox.js';
import { Hub, type EndedIsolate, type IsolateState, type WorkerRecord } from './hub.js';
import { StatusFeed, type StatusEvent } from './status.js';
import { checkKeys, describeOption, type KeysOf } from '../util/options.js';
import type { WorkerBoot } from './worker-entry.js';

export interface BootOptions {
  /** This node's name in addresses; default `n-` and 6 random hex digits. */
  readonly name?: string;
  /** User messaging: switch threshold, ring size, spin budget; for this node's every isolate. */
  readonly shm?: ShmOptions;
  /** Listen for peer nodes on HOST:PORT (port 0 picks a free one: see `node.address`). */
  readonly listen?: string;
  /** The HOST:PORT other nodes should dial to reach this one (default: the listen address, unless a wildcard). */
  readonly advertise?: string;
  /** Peer nodes to dial, HOST:PORT each; the node keeps a connection to each, redialing when it breaks. */
  readonly peers?: readonly string[];
  /** The cluster secret that authenticates nodes to each other; required unless every address is loopback. */
  readonly secret?: string;
  /** Mutual TLS between nodes: this node's key and certificate, and the CA that signs every node's. */
  readonly tls?: TlsOptions;
  /** Frame and byte limits, heartbeat and down timeouts, reconnect backoff. */
  readonly tcp?: TcpOptions;
  /** Where the node logs what it refuses or loses (handshakes rejected, peers down); default: nowhere (see `status()`). */
  readonly log?: (line: string) => void;
}

export interface PeerReport {
  readonly node: string;
  readonly connected: boolean;
  /** Bytes sent and not yet acknowledged. */
  readonly pendingBytes: number;
}

export interface SpawnOptions {
  /** How many isolates run the module (a fleet of `count` if it serves a name); default 1. */
  readonly count?: number;
  /** Handed to the module's default export as `ctx.data` (structured-cloned). */
  readonly data?: unknown;
  /** The isolate owns its core: it busy-polls its shm rings instead of parking (the fos model). */
  readonly poll?: boolean;
  /** Milliseconds `stop()` waits for a clean exit before it terminates the thread; default 2000. */
  readonly stopTimeout?: number;
  /** Milliseconds the module has to load and bind its names before spawn fails with ETIMEDOUT; default 30 000. */
  readonly readyTimeout?: number;
}

export interface SpawnedService {
  readonly module: string;
  /** The isolate numbers running the module. */
  readonly isolates: readonly number[];
  /** Stops every isolate of the service; calls pending to it fail with ECLOSED. */
  stop(): Promise<void>;
}

export interface IsolateReport {
  readonly isolate: number;
  /** The module it runs; `main` for the main thread. */
  readonly module: string;
  readonly state: IsolateState;
  readonly exitCode?: number;
  readonly error?: string;
  /** Its counters; absent when it has ended or did not answer in time. */
  readonly stats?: IsolateStats;
}

export interface NodeStats {
  readonly node: string;
  readonly isolates: readonly IsolateReport[];
  readonly names: readonly NameListing[];
  /** The nodes this node has a session with. */
  readonly peers: readonly PeerReport[];
}

const STATS_TIMEOUT_MS = 1000;
const DEFAULT_STOP_TIMEOUT_MS = 2000;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
const WORKER_ENTRY = new URL('./worker-entry.js', import.meta.url);

/** How long waitForPeers waits for the nodes its peers introduce, once its peers are up: best effort, as one may be dead or unreachable from here. */
const LEARNED_GRACE_MS = 2000;

export class FosNode {
  readonly name: string;
  /** The address this node listens on for peers (the port chosen when 0 was asked), if it listens. */
  address: string | undefined;
  private readonly hub: Hub;
  private readonly rt: Runtime;
  private readonly services = new Set<SpawnedService>();
  private down = false;
  private shuttingDown: Promise<void> | undefined;
  /** The addresses this node dials (boot's `peers`, then `addPeer`). */
  private readonly dialed: string[] = [];

  /** @internal use `boot()`. */
  constructor(
    name: string,
    hub: Hub,
    rt: Runtime,
    private readonly shmOptions: ShmOptions,
    private readonly proxy: Proxy,
    private readonly feed: StatusFeed,
    /** Whether the node has a cluster secret (it may then dial beyond loopback). */
    private readonly secured: boolean,
  ) {
    this.name = name;
    this.hub = hub;
    this.rt = rt;
  }

  /**
   * The node's status events, from now on: peers up and down, reconnects,
   * handshakes rejected, slow peers. Each iterator has its own bounded
   * queue; `break` out of the loop to stop listening.
   */
  status(): AsyncIterableIterator<StatusEvent> {
    return this.feed.subscribe();
  }

  /**
   * Resolves once the node at each address given in `peers` (and to
   * `addPeer`; but an address that led back to this node itself, which
   * it no longer dials) is up, its names known here, and so is every node those
   * introduce (the nodes they know, which this node then dials), or
   * LEARNED_GRACE_MS has passed waiting for those; with the names of the
   * nodes at the given addresses. Fails
   * with ETIMEDOUT after `timeoutMs`, naming the addresses still down and
   * why (the last reason heard), and at once with EACCES when a handshake
   * with one fails authentication (a secret that differs).
   * `boot` returns before its peers are reached: wait here before calling
   * their services by name.
   */
  async waitForPeers(timeoutMs = 10_000): Promise<string[]> {
    const deadline = performance.now() + Math.min(timeoutMs, MAX_TIMER_MS);
    // Why each address is not up yet, from the status events: said on a
    // timeout, and a failed authentication (which retrying will not mend) fails at once.
    const why = new Map<string, string>();
    let refused: FosError | undefined;
    let introducedAt: number | undefined;
    const events = this.feed.subscribe();
    void (async () => {
      for await (const ev of events) {
        if (ev.type !== 'handshake-rejected' && ev.type !== 'reconnecting') continue;
        // Only what this node was given to dial: a stray connection it
        // accepted (another cluster's node) says nothing of its peers, and
        // the nodes they introduce are waited for on a best-effort basis.
        if (!this.dialed.includes(ev.address)) continue;
        why.set(ev.address, ev.reason);
        if (ev.type === 'handshake-rejected' && ev.code === 'EACCES') refused ??= new FosError('EACCES', `${ev.address} refused: ${ev.reason}`);
      }
    })();
    try {
      for (;;) {
        // An address of this node's own among its peers (one list given to every node) has no peer to wait for.
        const dialed = this.dialed.filter((a) => !this.proxy.isOwnAddress(a));
        const up = dialed.map((a) => this.proxy.upAt(a));
        // Then the nodes they introduce: each dialed node's list of those it
        // knows has come, and every node in it this node dials is up too.
        const missing = dialed.filter((_, i) => up[i] === undefined);
        const unheard = missing.length === 0 ? up.filter((n) => !this.proxy.introducedBy(n!)) : [];
        if (missing.length === 0 && unheard.length === 0) {
          // The introduced nodes are waited for LEARNED_GRACE_MS at most: one
          // may be dead (its introducer tells no one) or unreachable from here.
          const now = performance.now();
          introducedAt ??= now;
          if (this.proxy.introducedUp() || now - introducedAt >= LEARNED_GRACE_MS || now >= deadline) return up as string[];
        }
        if (this.down) throw new FosError('ECLOSED', 'node is shut down');
        if (refused !== undefined) throw refused;
        if (performance.now() >= deadline) {
          const named = missing.map((a) => (why.has(a) ? `${a} (${why.get(a)!})` : a));
          if (unheard.length > 0) named.push(`the nodes known to ${unheard.join(', ')} (not heard of yet)`);
          throw new FosError('ETIMEDOUT', `peers not up within ${timeoutMs} ms: ${named.join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await events.return?.();
    }
  }

  /** Dials another node at HOST:PORT (as `boot({ peers })` does) and keeps a connection to it. */
  addPeer(address: string): void {
    if (this.down) throw new FosError('ECLOSED', 'node is shut down');
    checkOpenAddresses([address], this.secured);
    this.proxy.dial(address);
    if (!this.dialed.includes(address)) this.dialed.push(address);
  }

  /** Starts `count` isolates running `module`; resolves once each has loaded it and bound its names. */
  async spawn(module: URL | string, opts: SpawnOptions = {}): Promise<SpawnedService> {
    if (this.down) throw new FosError('ECLOSED', 'node is shut down');
    checkKeys('spawn()', opts, SPAWN_KEYS);
    const count = opts.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new FosError('EINVAL', `count is a positive integer, got ${describeOption(count)}`);
    const href = moduleHref(module);
    const records: WorkerRecord[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const isolate = this.hub.newIsolateNumber();
      const icb = newIcb();
      const boot: WorkerBoot = {
        node: this.name,
        isolate,
        module: href,
        data: opts.data,
        index,
        count,
        icb,
        mainIcb: this.rt.shm.icb.sab,
        poll: opts.poll === true,
        shm: this.shmOptions,
      };
      let worker: Worker;
      try {
        worker = new Worker(WORKER_ENTRY, { workerData: boot });
      } catch (e) {
        await this.stopRecords(records, 0);
        throw new FosError('EINVAL', `cannot start a worker: ${(e as Error).message}`);
      }
      const rec: WorkerRecord = { isolate, module: href, worker, icb, state: 'starting' };
      ready.push(
        new Promise<void>((resolve, reject) => {
          rec.onReady = (err) => {
            delete rec.onReady;
            if (err === undefined) {
              rec.state = 'running';
              resolve();
            } else reject(fromWire(err));
          };
        }),
      );
      ready[ready.length - 1]!.catch(() => {}); // heard through allSettled below, even if a later worker fails to start
      this.hub.addWorker(rec);
      this.rt.attachPort(isolate, worker, false, icb);
      this.hub.introduceToAll(isolate);
      worker.on('error', (e) => (rec.error = e instanceof Error ? (e.stack ?? e.message) : String(e)));
      worker.on('exit', (code) => this.hub.onExit(isolate, code));
      records.push(rec);
    }
    const readyTimeout = Math.min(opts.readyTimeout ?? DEFAULT_READY_TIMEOUT_MS, MAX_TIMER_MS);
    const timer = setTimeout(() => {
      const message = `${href} was not ready within ${readyTimeout} ms: its default export must return once set up (run a receive loop without awaiting it)`;
      for (const rec of records) rec.onReady?.({ code: 'ETIMEDOUT', message });
    }, readyTimeout);
    const results = await Promise.allSettled(ready);
    clearTimeout(timer);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stopRecords(records, 0);
      throw failed.reason instanceof FosError ? failed.reason : new FosError('EINVAL', String(failed.reason));
    }
    const stopTimeout = Math.min(opts.stopTimeout ?? DEFAULT_STOP_TIMEOUT_MS, MAX_TIMER_MS);
    return this.service(href, records.map((r) => r.isolate), stopTimeout);
  }

  /**
   * The handle of a spawned service: its isolates' numbers, not their
   * records, made outside spawn's scope (whose closures hold the records),
   * so that a stopped service its caller holds on to pins no Worker nor
   * control block.
   */
  private service(module: string, isolates: readonly number[], stopTimeout: number): SpawnedService {
    const svc: SpawnedService = {
      module,
      isolates,
      stop: async () => {
        this.services.delete(svc);
        await this.stopRecords(this.hub.liveWorkersOf(isolates), stopTimeout);
      },
    };
    this.services.add(svc);
    return svc;
  }

  /** Counters of every isolate of the node, and the name table. */
  async stats(): Promise<NodeStats> {
    const live = this.hub.liveWorkers();
    const answers = await Promise.all(live.map((w) => this.askStats(w.isolate)));
    const isolates: IsolateReport[] = [{ isolate: 0, module: 'main', state: this.down ? 'exited' : 'running', stats: this.rt.stats() }];
    live.forEach((w, i) => isolates.push(report(w, answers[i])));
    for (const w of this.hub.endedWorkers()) isolates.push(report(w, undefined));
    return { node: this.name, isolates, names: this.hub.list(), peers: this.proxy.peerList() };
  }

  /** Stops every service, closes the main thread's mailboxes and fails what is pending with ECLOSED. */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.shutdownOnce();
    return this.shuttingDown;
  }

  private async shutdownOnce(): Promise<void> {
    this.down = true;
    // A worker blocked in callSync on a service of this thread could not
    // hear its stop, and would be terminated after the grace with its call
    // unanswered: its call ends first, with ECLOSED. The services of this
    // thread go on answering everyone else until the workers have stopped.
    this.rt.endSyncCalls(new FosError('ECLOSED', 'the node is shutting down'));
    await Promise.all([...this.services].map((s) => s.stop()));
    // Isolates started outside a service record (a spawn still starting) end too.
    await this.stopRecords(this.hub.liveWorkers(), DEFAULT_STOP_TIMEOUT_MS);
    // The main thread's runtime before the proxy: a call from another node
    // whose handler runs here is answered ECLOSED over the proxy, as one
    // served by a worker is, rather than failing with ECONNRESET at peer-down.
    this.rt.close('node shut down');
    await this.proxy.close();
    this.feed.end();
    if (currentRuntime() === this.rt) setRuntime(undefined, `node ${this.name} was shut down`);
  }

  private async askStats(isolate: number): Promise<IsolateStats | undefined> {
    const link = this.rt.link(isolate);
    if (link === undefined) return undefined;
    try {
      return (await this.rt.control.request(link, 'stats', null, STATS_TIMEOUT_MS)) as IsolateStats;
    } catch {
      return undefined; // busy (a polling loop that does not yield), or gone
    }
  }

  /** Asks each isolate to stop, and terminates those that have not exited after `graceMs`. */
  private async stopRecords(records: readonly WorkerRecord[], graceMs: number): Promise<void> {
    await Promise.all(
      records.map(async (rec) => {
        if (rec.state === 'exited' || rec.state === 'crashed') return;
        rec.state = 'stopping';
        const exited = new Promise<void>((resolve) => rec.worker.once('exit', () => resolve()));
        if (this.hub.worker(rec.isolate) === undefined) return; // already gone
        this.hub.push(rec.isolate, { type: 'stop' });
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, graceMs, 'late')));
        if ((await Promise.race([exited, late])) === 'late') await rec.worker.terminate();
        clearTimeout(timer);
        await exited;
      }),
    );
  }
}

function report(w: EndedIsolate, stats: IsolateStats | undefined): IsolateReport {
  return {
    isolate: w.isolate,
    module: w.module,
    state: w.state,
    ...(w.exitCode !== undefined ? { exitCode: w.exitCode } : {}),
    ...(w.error !== undefined ? { error: w.error } : {}),
    ...(stats !== undefined ? { stats } : {}),
  };
}

function moduleHref(module: URL | string): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== 'string') throw new FosError('EINVAL', 'a module is a URL or a path');
  if (isAbsolute(module)) return pathToFileURL(module).href;
  // Normalised as Node's loader has it (file://localhost/, ..): its not-found error names the module so (module-import.ts).
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) {
    try {
      return new URL(module).href;
    } catch {
      throw new FosError('EINVAL', `a module is a URL or an absolute path, got ${JSON.stringify(module)}`);
    }
  }
  throw new FosError('EINVAL', `a module is a URL or an absolute path, got ${JSON.stringify(module)}`);
}

/** Starts this process's node: the main thread's runtime and its system services. */
export async function boot(opts: BootOptions = {}): Promise<FosNode> {
  // Options are looked over first: a mistake in them is EINVAL wherever boot() is called, a second boot() or not.
  checkBootKeys(opts);
  const shm = opts.shm === undefined ? {} : opts.shm; // not ??: a null is refused, not taken for none
  checkShmOptions(shm);
  const existing = currentRuntime();
  if (existing !== undefined && !existing.closed) throw new FosError('EEXIST', 'a fos runtime already runs in this isolate');
  const name = opts.name ?? `n-${randomBytes(3).toString('hex')}`;
  checkNodeName(name);
  checkSecret(opts.secret);
  checkOpenAddresses([...(opts.listen !== undefined ? [opts.listen] : []), ...(opts.peers ?? [])], opts.secret !== undefined);
  if (opts.advertise !== undefined) checkAdvertised(opts.advertise);
  const hub = new Hub();
  const rt: Runtime = new Runtime({
    node: name,
    isolate: 0,
    names: hub.localNames,
    unbind: (ref) => hub.unbind(ref),
    // The main thread holds a link to every live worker from its start, so
    // an isolate it has no link to does not exist (any more).
    connect: (peer) => queueMicrotask(() => rt.peerDown(peer, 'ENOENT')),
    icb: newIcb(),
    shm,
    lookupSync: (n) => hub.lookup(n),
    relayOffer: (peer, sab, capacity) => hub.push(peer, { type: 'offer', from: 0, sab, capacity }),
  });
  hub.attach(rt);
  // A worker whose link to this thread is given up is cut off from the node
  // (names, ports, its stop request): it ends (it also exits by itself), and
  // its exit announces its death as a crash's does.
  rt.onLinkBroken = (peer, why) => {
    const rec = hub.worker(peer);
    if (rec === undefined) return;
    rec.error ??= `cut off: its link to the main thread was given up (${why})`;
    void rec.worker.terminate();
  };
  const feed = new StatusFeed();
  const log = opts.log ?? (() => {});
  const proxy = new Proxy(
    {
      node: name,
      deliver: (ref, msg, wait, signal) => rt.deliver(ref, msg as Inbound, { wait, signal, owned: true, batch: msg.batch === true }),
      reply: (isolate, env) => handReply(rt, isolate, env),
      ownNames: () => hub.ownNames(),
      peerNames: (peer, update) => {
        try {
          hub.peerNames(peer, update);
        } catch (e) {
          log(`name update from ${peer} refused: ${(e as Error).message}`);
        }
      },
      peerDown: (peer, why) => {
        hub.dropPeer(peer);
        rt.nodeDown(peer, why);
        for (const w of hub.liveWorkers()) hub.push(w.isolate, { type: 'nodeDown', node: peer, why });
      },
      emit: (ev) => feed.emit(ev),
      log,
    },
    { ...opts.tcp, secret: opts.secret ?? '', tls: opts.tls, advertise: opts.advertise },
  );
  rt.remote = { send: (ref, msg, o) => proxy.send(ref, o.batch === true ? { ...msg, batch: true } : msg, o), reply: (to, id, ok, result) => proxy.sendReply(to, id, ok, result) };
  hub.broadcast = (u) => proxy.broadcastNames(u);
  hub.onCrash = (e) => feed.emit({ type: 'isolate-crashed', isolate: e.isolate, module: e.module, exitCode: e.exitCode ?? 1, ...(e.error !== undefined ? { error: e.error } : {}) });
  setRuntime(rt);
  const node = new FosNode(name, hub, rt, shm, proxy, feed, opts.secret !== undefined);
  try {
    if (opts.listen !== undefined) {
      node.address = await proxy.listen(opts.listen);
      // The node's own system service: what `fos ls` and `fos stats` ask a node from afar.
      serveOn(rt, `/sys/nodes/${name}`, { names: () => hub.list(), stats: () => node.stats(), peers: () => proxy.peerList() });
    }
  } catch (e) {
    await node.shutdown();
    throw e;
  }
  for (const p of opts.peers ?? []) node.addPeer(p);
  return node;
}

const BOOT_KEYS: KeysOf<BootOptions> = { name: true, shm: true, listen: true, advertise: true, peers: true, secret: true, tls: true, tcp: true, log: true };
const TCP_KEYS: KeysOf<TcpOptions> = { maxFrame: true, maxPendingBytes: true, heartbeatMs: true, downMs: true, handshakeMs: true, backoff: true };
const BACKOFF_KEYS: KeysOf<NonNullable<TcpOptions['backoff']>> = { min: true, max: true };
const TLS_KEYS: KeysOf<TlsOptions> = { key: true, cert: true, ca: true };
const SPAWN_KEYS: KeysOf<SpawnOptions> = { count: true, data: true, poll: true, stopTimeout: true, readyTimeout: true };

/** EINVAL for an option boot() does not have, at any level but shm's (checkShmOptions looks at those). */
function checkBootKeys(opts: BootOptions): void {
  checkKeys('boot()', opts, BOOT_KEYS);
  checkKeys('tcp', opts.tcp, TCP_KEYS);
  checkKeys('tcp.backoff', opts.tcp?.backoff, BACKOFF_KEYS);
  checkKeys('tls', opts.tls, TLS_KEYS);
}

function checkSecret(secret: unknown): void {
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 16)) {
    throw new FosError('EINVAL', 'the cluster secret is a string of at least 16 characters');
  }
}

/** A node's name, as it goes in addresses: EINVAL unless it is 1 to 64 letters, digits, '_', '.' or '-'. */
export function checkNodeName(name: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new FosError('EINVAL', `a node name is 1 to 64 letters, digits, '_', '.' or '-': ${describeOption(name)}`);
}

/** A node listens or dials beyond loopback only with a secret: anyone who can connect could otherwise send. */
function checkOpenAddresses(addresses: readonly string[], secured: boolean): void {
  const open = addresses.filter((a) => !isLoopback(parseHostPort(a).host));
  if (open.length > 0 && !secured) {
    throw new FosError('EINVAL', `refusing to listen on or dial ${open.join(', ')} without a cluster secret: give boot({ secret }) (fos node: --secret-file or FOS_SECRET)`);
  }
}

/** A reply that came from another node, handed to the isolate whose call it answers. */
function handReply(rt: Runtime, isolate: number, env: ReplyEnvelope): void {
  const f: ReplyFrame = env.ok ? { t: 'y', cap: env.cap, c: env.callId, ok: true, d: env.data } : { t: 'y', cap: env.cap, c: env.callId, ok: false, e: env.data as WireError };
  if (isolate === 0) {
    rt.onReply(f, 'tcp');
    return;
  }
  try {
    rt.link(isolate)?.postUnacked(f);
  } catch {
    // The caller's isolate is gone: its calls failed with it.
  }
}
