/**
 * The commands that ask a running cluster: `fos ls`, `fos ping`, `fos call`, `fos stats`.
 * Each joins the cluster through one node as a short-lived client node.
 */
import { parseArgs } from 'node:util';
import { call, lookup } from '../api.js';
import { FosError, isFosError } from '../errors.js';
import type { NameListing } from '../names/registry.js';
import type { NodeStats } from '../node/node.js';
import { PING_METHOD } from '../rpc/serve.js';
import { MAX_TIMER_MS } from '../rpc/calls.js';
import type { Ref } from '../runtime/ref.js';
import { DEFAULT_NODE, joinAsClient, namesSeenBy, readSecret, type JoinedClient } from './args.js';
import { resultJson } from './json-result.js';
import { validateName } from '../names/name.js';
import { parseHostPort } from '../transport/tcp/address.js';
import { CALL_TIMEOUT_MS, checkedOption, PING_TIMEOUT_MS, quoted, UsageError } from './usage.js';

const COMMON = { node: { type: 'string' }, 'secret-file': { type: 'string' }, timeout: { type: 'string' } } as const;

const ANSWERED = Symbol('answered');
const INTERRUPTED = Symbol('interrupted');

/** How long `fos ls` and `fos stats` take at most, joining the cluster included, and `fos ping` takes to join. */
const JOIN_TIMEOUT_MS = 10_000;

/** --timeout's value, `dflt` without one: a positive number of milliseconds that a timer can wait (about 24.8 days at most). */
function timeoutOf(v: string | undefined, dflt: number): number {
  const ms = Number(v ?? dflt);
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`--timeout is a positive number of milliseconds, got ${v}`);
  if (ms > MAX_TIMER_MS) throw new UsageError(`--timeout is at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${v}`);
  return ms;
}

/** Joins the cluster within `joinMs`, runs `use` with what is left of that time (ms), and leaves. */
async function withClient<T>(values: { node?: string | undefined; 'secret-file'?: string | undefined }, joinMs: number, use: (joined: JoinedClient, leftMs: number) => Promise<T>): Promise<T> {
  const address = values.node ?? process.env['FOS_NODE'] ?? DEFAULT_NODE;
  checkedOption(() => parseHostPort(address));
  const t0 = performance.now();
  const joined = await joinAsClient(address, readSecret(values['secret-file']), joinMs);
  try {
    return await use(joined, Math.max(1, joinMs - (performance.now() - t0)));
  } finally {
    await joined.client.shutdown();
  }
}

/** `fos ls`: the cluster's names, with their members and the nodes they live on. */
export async function lsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: COMMON, strict: true });
  const timeout = timeoutOf(values.timeout, JOIN_TIMEOUT_MS);
  const { names, unreached } = await withClient(values, timeout, async ({ peer, unreached }, left) => ({ names: await namesSeenBy(peer, left), unreached }));
  // A node this client could not reach may be dead and not yet declared down: its rows say so.
  const nodeOf = (node: string): string => (unreached.includes(node) ? `${node} (not reached)` : node);
  const rows = names.flatMap((n) => n.members.map((m, i) => [i === 0 ? n.name : '', i === 0 ? n.kind : '', nodeOf(m.address.node), `${m.address.isolate}/${m.address.mailbox}`]));
  process.stdout.write(table(['NAME', 'KIND', 'NODE', 'ISOLATE/MAILBOX'], rows));
  return 0;
}

/**
 * `fos ping NAME`: round trips to a served name, as the caller sees them,
 * one member after another (each line says which answered). A round trip
 * that fails (no answer within --timeout, a member gone) is said and
 * counted, and the next one is tried: a service being restarted answers
 * again. SIGINT ends the run early. Either way the summary comes last;
 * the exit code is 1 if any round trip failed.
 */
export async function pingCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, count: { type: 'string' } }, allowPositionals: true, strict: true });
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('fos ping needs a NAME');
  if (extra.length > 0) throw new UsageError(`fos ping takes one NAME, not also ${quoted(extra)}`);
  checkedOption(() => validateName(name));
  const count = Number(values.count ?? 10);
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`--count is a positive integer, got ${values.count}`);
  const timeout = timeoutOf(values.timeout, PING_TIMEOUT_MS);
  // Ctrl-C ends the run at once, the round trip it cuts short uncounted, with the summary; a second one, or one while joining, ends the command.
  let interrupted = false;
  let wake = (): void => {};
  const interruption = new Promise<typeof INTERRUPTED>((resolve) => (wake = () => resolve(INTERRUPTED)));
  let joined = false;
  const interrupt = (): void => {
    // Before the join is done there is no run to end: the command ends (a join waits up to its handshake timeout).
    if (interrupted || !joined) process.exit(130);
    interrupted = true;
    wake();
  };
  process.on('SIGINT', interrupt);
  const { times, lost } = await withClient(values, JOIN_TIMEOUT_MS, async () => {
    joined = true;
    const out: number[] = [];
    let failed = 0;
    for (let i = 0; i < count && !interrupted; i++) {
      // One member after another, from the list as it is now: a member that left is not tried again.
      const refs = await lookup(name).catch((): Ref[] => []);
      const ref = refs[i % Math.max(1, refs.length)];
      const who = ref === undefined ? '' : ` (${ref.address.node}/${ref.address.isolate})`;
      const t0 = performance.now();
      const outcome = await Promise.race([call(ref ?? name, PING_METHOD, [], { timeout }).then((): typeof ANSWERED => ANSWERED, (e: unknown) => e as Error), interruption]);
      if (outcome === INTERRUPTED) break;
      if (outcome === ANSWERED) {
        out.push(performance.now() - t0);
        process.stdout.write(`${name}${who}: round trip ${i + 1} ${formatMs(out[out.length - 1]!)}\n`);
        continue;
      }
      failed++;
      process.stdout.write(`${name}${who}: round trip ${i + 1} failed: ${outcome.message}\n`);
      // A name with no member fails at once: a pause, so that a run of them takes a while (the service may come back).
      if (ref === undefined) await Promise.race([new Promise((r) => setTimeout(r, Math.min(timeout, 1000))), interruption]);
    }
    return { times: out, lost: failed };
  }).finally(() => process.off('SIGINT', interrupt));
  const done = times.length + lost;
  const sorted = [...times].sort((a, b) => a - b);
  const spread = sorted.length === 0 ? 'none answered' : `min ${formatMs(sorted[0]!)}, median ${formatMs(sorted[Math.floor(sorted.length / 2)]!)}, max ${formatMs(sorted[sorted.length - 1]!)}`;
  process.stdout.write(`${done} round trip${done === 1 ? '' : 's'}${done < count ? ` (of ${count}: interrupted)` : ''}: ${spread}${lost > 0 ? `; ${lost} failed` : ''}\n`);
  return lost > 0 ? 1 : 0;
}

/** `fos call NAME METHOD [ARGS_JSON]`: one call, its result printed as JSON. */
export async function callCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: COMMON, allowPositionals: true, strict: true });
  const [name, method, json, ...extra] = positionals;
  if (name === undefined || method === undefined) throw new UsageError('fos call needs a NAME and a METHOD (and the arguments as a JSON array)');
  if (extra.length > 0) throw new UsageError(`fos call takes the arguments as one JSON array ('["a", 1]'), not also ${quoted(extra)}`);
  checkedOption(() => validateName(name));
  let args: unknown;
  try {
    args = json === undefined ? [] : JSON.parse(json);
  } catch (e) {
    throw new UsageError(`the arguments are a JSON array: ${(e as Error).message}`);
  }
  if (!Array.isArray(args)) throw new UsageError('the arguments are a JSON array, e.g. \'["a", 1]\'');
  const timeout = timeoutOf(values.timeout, CALL_TIMEOUT_MS);
  // The timeout bounds the whole command: joining the cluster, then the call in what is left.
  const result = await withClient(
    values,
    timeout,
    ({ peer, unreached }, left) => {
      const joined = timeout - left;
      return call(name, method, args as unknown[], { timeout: left }).catch(async (e: unknown) => {
        // Said of the --timeout given, not of what was left of it for the call.
        if (isFosError(e, 'ETIMEDOUT')) throw new FosError('ETIMEDOUT', `no answer within the --timeout of ${timeout} ms (joining the cluster took ${Math.round(joined)} ms of it)`);
        // Not "no such name" for a name whose every member lives on a node this client did not reach.
        if (isFosError(e, 'ENOENT') && unreached.length > 0) {
          const listed = await namesSeenBy(peer, 2000).catch((): NameListing[] => []);
          const nodes = new Set(listed.find((n) => n.name === name)?.members.map((m) => m.address.node));
          if (nodes.size > 0 && [...nodes].every((n) => unreached.includes(n))) {
            throw new FosError('ECONNRESET', `${name} lives on ${[...nodes].join(', ')}, which this client did not reach (a node that just died is known as down only after the down timeout)`);
          }
        }
        throw e;
      });
    },
  );
  // A method that returns nothing prints null, as JSON does undefined inside an array.
  process.stdout.write(`${resultJson(result)}\n`);
  return 0;
}

/** `fos stats`: a node's counters. */
export async function statsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, json: { type: 'boolean' } }, strict: true });
  const timeout = timeoutOf(values.timeout, JOIN_TIMEOUT_MS);
  const { stats, self } = await withClient(values, timeout, async ({ client, peer }, left) => ({ stats: await call<NodeStats>(`/sys/nodes/${peer}`, 'stats', [], { timeout: left }), self: client.name }));
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`node ${stats.node}\n\npeers\n`);
  // This command's own client node is a peer of the node it asks, and not worth a row.
  const peers = stats.peers.filter((p) => p.node !== self);
  process.stdout.write(table(['NODE', 'CONNECTED', 'PENDING BYTES'], peers.map((p) => [p.node, String(p.connected), String(p.pendingBytes)])));
  process.stdout.write('\nisolates\n');
  const rows = stats.isolates.map((i) => {
    const t = i.stats?.transports;
    const sent = t === undefined ? '-' : String(Object.values(t).reduce((n, c) => n + c.messagesSent, 0));
    const received = t === undefined ? '-' : String(Object.values(t).reduce((n, c) => n + c.messagesReceived, 0));
    // Every `fos node --service` isolate runs the same module: the names it serves tell them apart.
    const names = [...new Set(i.stats?.mailboxes.flatMap((m) => m.names) ?? [])].join(',');
    return [String(i.isolate), i.module.replace(/^.*\//, ''), names === '' ? '-' : names, i.state, sent, received, String(i.stats?.callsInFlight ?? '-')];
  });
  process.stdout.write(table(['ISOLATE', 'MODULE', 'NAMES', 'STATE', 'SENT', 'RECEIVED', 'CALLS IN FLIGHT'], rows));
  return 0;
}

function formatMs(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}
