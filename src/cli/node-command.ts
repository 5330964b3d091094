/**
 * `fos node`: a long-running node that serves modules.
 *
 *   fos node --listen HOST:PORT [--advertise HOST:PORT] [--name N] [--peers A,B]
 *            [--secret-file F] [--service NAME=MODULE[:COUNT]]... [--poll]
 *            [--heartbeat-ms MS] [--down-ms MS]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lookup } from '../api.js';
import { FosError, toWire } from '../errors.js';
import { boot, checkNodeName } from '../node/node.js';
import type { StatusEvent } from '../node/status.js';
import { validateName } from '../names/name.js';
import { checkAdvertised, parseHostPort } from '../transport/tcp/address.js';
import { downMsOf } from '../transport/tcp/proxy.js';
import { readSecret } from './args.js';
import { NameTakenWatch } from './name-taken.js';
import { clientKey, isClient, logKey, RepeatFilter, repeatKey, speaksOf, statusLine } from './node-output.js';
import { Restarts } from './restarts.js';
import { checkedOption, UsageError } from './usage.js';

const SERVE_MODULE = new URL('./serve-module.js', import.meta.url);

export interface ServiceSpec {
  readonly name: string;
  readonly module: string;
  readonly count: number;
}

/** What a worker of `fos node` is given: its service, and (a replacement) the index of the worker it replaces. */
export type ServeData = ServiceSpec & { readonly slot?: number };

/** A worker's place in its service: replaced in place when it crashes. */
interface Slot {
  /** The service, and which of its workers when it has more than one (how restarts.ts names it). */
  readonly name: string;
  readonly spec: ServiceSpec;
  readonly index: number;
}

type CrashEvent = Extract<StatusEvent, { type: 'isolate-crashed' }>;

/** NAME=MODULE[:COUNT], MODULE a path (relative to the working directory) or a URL. */
export function parseService(spec: string): ServiceSpec {
  const m = /^([^=]+)=(.+?)(?::(\d+))?$/.exec(spec);
  if (m === null) throw new UsageError(`a service is NAME=MODULE[:COUNT], got ${JSON.stringify(spec)}`);
  const [, name, path, count] = m;
  checkedOption(() => validateName(name));
  // A COUNT that is not a whole number would otherwise be read as part of the module's path (x.js:-1, x.js:1.5).
  const notACount = /:(-[\d.]*|\d*\.\d*)$/.exec(path!);
  if (count === undefined && notACount !== null) throw new UsageError(`a service's COUNT is a whole number of at least 1, got ${notACount[1]} in ${JSON.stringify(spec)}`);
  if (count !== undefined && Number(count) < 1) throw new UsageError(`a service's COUNT is at least 1, got ${count} in ${JSON.stringify(spec)}`);
  const module = /^[a-z][a-z0-9+.-]*:\/\//i.test(path!) ? path! : pathToFileURL(resolve(path!)).href;
  return { name: name!, module, count: count === undefined ? 1 : Number(count) };
}

function milliseconds(v: string, option: string): number {
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < 1) throw new UsageError(`${option} is a positive whole number of milliseconds, got ${JSON.stringify(v)}`);
  return ms;
}

/** Why a service did not start, said of the service and its module (not of serve-module.js, nor as a handler's error). */
function startFailed(s: ServiceSpec, e: unknown): unknown {
  if (!(e instanceof FosError)) return e;
  const r = e.remote;
  // Said of the user's module, not of serve-module.js that runs it (a spawn's own errors name what it spawned).
  const why = (r === undefined ? toWire(e).message : `it threw ${r.name}${r.code !== undefined ? ` (${r.code})` : ''}: ${r.message}`).replaceAll(SERVE_MODULE.href, s.module);
  return new FosError(e.code, `the service ${s.name} (${s.module}) did not start: ${why}`);
}

export async function nodeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' },
      advertise: { type: 'string' },
      name: { type: 'string' },
      peers: { type: 'string' },
      'secret-file': { type: 'string' },
      service: { type: 'string', multiple: true },
      poll: { type: 'boolean' },
      'heartbeat-ms': { type: 'string' },
      'down-ms': { type: 'string' },
    },
    strict: true,
  });
  if (values.listen === undefined) throw new UsageError('fos node needs --listen HOST:PORT');
  const peers = values.peers === undefined ? [] : values.peers.split(',').filter((p) => p !== '');
  const { listen, advertise, name } = values;
  checkedOption(() => {
    for (const a of [listen, ...peers]) parseHostPort(a);
    if (advertise !== undefined) checkAdvertised(advertise);
    if (name !== undefined) checkNodeName(name);
  });
  const secret = readSecret(values['secret-file']);
  const services = (values.service ?? []).map(parseService);
  const tcp = {
    ...(values['heartbeat-ms'] !== undefined ? { heartbeatMs: milliseconds(values['heartbeat-ms'], '--heartbeat-ms') } : {}),
    ...(values['down-ms'] !== undefined ? { downMs: milliseconds(values['down-ms'], '--down-ms') } : {}),
  };
  const nameTaken = new NameTakenWatch(checkedOption(() => downMsOf(tcp)));
  const repeats = new RepeatFilter((line) => process.stderr.write(`fos node: ${line}\n`));
  const say = (key: string, text: string): void => repeats.say(key, text, performance.now());
  const node = await boot({
    listen,
    peers,
    ...(name !== undefined ? { name } : {}),
    ...(advertise !== undefined ? { advertise } : {}),
    ...(secret !== undefined ? { secret } : {}),
    tcp,
    log: (line) => say(clientKey(logKey(line)), line),
  });
  // Set when the node is to stop by itself: its name is another process's (see NameTakenWatch).
  let taken: string | undefined;
  // The node stops on SIGINT or SIGTERM, or once its name is found to be another process's. One that
  // comes while the services start ends the start (once the spawn under way is done); a second signal
  // then ends the process there.
  let stopRequested = false;
  let started = false;
  let wake: (() => void) | undefined;
  const requestStop = (): void => {
    stopRequested = true;
    wake?.();
  };
  const onSignal = (): void => {
    if (stopRequested && !started) process.exit(130);
    requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let closing = false;
  // The slot of each worker (its service and its index among the service's
  // workers), and of each live worker's isolate: a replacement takes the
  // slot of the worker it replaces, its ctx.index and ctx.count those of the
  // service, so that a service that shares out work by index stays whole.
  const slots = new Map(services.map((spec) => [spec, Array.from({ length: spec.count }, (_, index): Slot => ({ name: spec.count > 1 ? `${spec.name} (worker ${index + 1} of ${spec.count})` : spec.name, spec, index }))]));
  const slotOf = new Map<number, Slot>();
  // Crashes of workers whose spawn has not resolved yet (one of several, ready, died while the others started): said and replaced once it has.
  const crashedStarting = new Map<number, CrashEvent>();
  const crashed = (slot: Slot, ev: CrashEvent): void => {
    const line = statusLine(ev, (isolate) => `a worker of service ${slot.spec.name} (${slot.spec.module}), isolate ${isolate},`)!;
    say(line, line);
    restarts.crashed(slot);
  };
  /** Starts the workers of `these` slots (of one service, in order); resolves with their isolates. */
  const spawnSlots = async (these: readonly Slot[]): Promise<readonly number[]> => {
    const { spec } = these[0]!;
    // One slot alone is a replacement: it is told its slot (serve-module.ts gives the module that index and count).
    const data: ServeData = these.length === 1 && spec.count > 1 ? { ...spec, slot: these[0]!.index } : spec;
    const svc = await node.spawn(SERVE_MODULE, { count: these.length, data, poll: values.poll === true }).catch((e: unknown) => {
      throw startFailed(spec, e);
    });
    svc.isolates.forEach((isolate, k) => {
      const ev = crashedStarting.get(isolate);
      crashedStarting.delete(isolate);
      if (ev === undefined) slotOf.set(isolate, these[k]!);
      else crashed(these[k]!, ev);
    });
    return svc.isolates;
  };
  const restarts = new Restarts<Slot>(
    async (slot) => (await spawnSlots([slot]))[0]!,
    (line) => say(line, line),
  );
  void (async () => {
    for await (const ev of node.status()) {
      // A redial queued before the shutdown began is not news after "shutting down".
      if (closing && ev.type === 'reconnecting') continue;
      // A peer that came up ends what was said of it (a refusal, a redial): said again if it recurs.
      // (A command's client node coming up ends nothing: it is not the peer any such line was about.)
      if (ev.type === 'peer-up' && !isClient(ev.node)) repeats.reset((key) => speaksOf(key, ev.node, ev.address));
      if (ev.type === 'isolate-crashed') {
        const slot = slotOf.get(ev.isolate);
        slotOf.delete(ev.isolate);
        if (slot !== undefined) crashed(slot, ev);
        else crashedStarting.set(ev.isolate, ev); // its spawn, not resolved yet, says it (and a spawn that fails says why)
      } else {
        const line = statusLine(ev);
        if (line !== undefined) say(clientKey(repeatKey(ev, line)), line);
      }
      taken ??= nameTaken.see(ev, performance.now());
      if (taken !== undefined) requestStop();
    }
  })();
  try {
    for (const s of services) {
      if (stopRequested) break;
      await spawnSlots(slots.get(s)!);
      // A module whose default export is a function binds what it likes: say so when it did not bind the name it was given.
      const bound = await lookup(s.name).then(
        (refs) => refs.length > 0,
        () => false,
      );
      if (bound) process.stderr.write(`fos node: serving ${s.name} (${s.count} × ${s.module})\n`);
      else process.stderr.write(`fos node: warning: ${s.module} started (${s.count} ×) but bound no ${s.name}: its default export, a function, binds names of its own (it is given the name as ctx.data.name)\n`);
    }
  } catch (e) {
    // A node that lacks a service it was asked for is not the node asked for: it stops, and the command fails with why.
    restarts.stop();
    await node.shutdown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw e;
  }
  if (advertise === undefined && /^(0\.0\.0\.0|\[::\]|):/.test(listen)) {
    process.stderr.write('fos node: listening on a wildcard address without --advertise: other nodes learn no address to dial this one by\n');
  }
  started = true;
  if (!stopRequested) process.stdout.write(`fos node ${node.name} listening on ${node.address}\n`);
  await new Promise<void>((done) => {
    wake = done;
    if (stopRequested) done(); // while the services started
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  closing = true;
  restarts.stop();
  repeats.reset();
  process.stderr.write('fos node: shutting down\n');
  await node.shutdown();
  if (taken !== undefined) throw new FosError('EEXIST', `node name ${node.name} belongs to another process (give this one another --name): ${taken}`);
  return 0;
}
