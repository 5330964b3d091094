/**
 * The commands that ask a running cluster: `fos ls`, `fos ping`, `fos stats`.
 * Each joins the cluster through one node as a short-lived client node.
 */
import { parseArgs } from 'node:util';
import { call } from '../api.js';
import { FosError, isFosError } from '../errors.js';
import type { NameListing } from '../names/registry.js';
import type { NodeStats } from '../node/node.js';
import { PING_METHOD } from '../rpc/serve.js';
import { DEFAULT_NODE, joinAsClient, namesSeenBy, readSecret, type JoinedClient } from './args.js';
import { resultJson } from './json-result.js';
import { validateName } from '../names/name.js';
import { parseHostPort } from '../transport/tcp/address.js';
import { CALL_TIMEOUT_MS, checkedOption, UsageError } from './usage.js';

const COMMON = { node: { type: 'string' }, 'secret-file': { type: 'string' } } as const;

/** Joins the cluster (within `joinMs`), runs `use`, and leaves. */
async function withClient<T>(values: { node?: string | undefined; 'secret-file'?: string | undefined }, use: (joined: JoinedClient) => Promise<T>, joinMs?: number): Promise<T> {
  const address = values.node ?? process.env['FOS_NODE'] ?? DEFAULT_NODE;
  checkedOption(() => parseHostPort(address));
  const joined = await joinAsClient(address, readSecret(values['secret-file']), joinMs);
  try {
    return await use(joined);
  } finally {
    await joined.client.shutdown();
  }
}

/** `fos ls`: the cluster's names, with their members and the nodes they live on. */
export async function lsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: COMMON, strict: true });
  const { names, unreached } = await withClient(values, async ({ peer, unreached }) => ({ names: await namesSeenBy(peer), unreached }));
  // A node this client could not reach may be dead and not yet declared down: its rows say so.
  const nodeOf = (node: string): string => (unreached.includes(node) ? `${node} (not reached)` : node);
  const rows = names.flatMap((n) => n.members.map((m, i) => [i === 0 ? n.name : '', i === 0 ? n.kind : '', nodeOf(m.address.node), `${m.address.isolate}/${m.address.mailbox}`]));
  process.stdout.write(table(['NAME', 'KIND', 'NODE', 'ISOLATE/MAILBOX'], rows));
  return 0;
}

/** `fos ping NAME`: round trips to a served name, as the caller sees them. */
export async function pingCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, count: { type: 'string' } }, allowPositionals: true, strict: true });
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('fos ping needs a NAME');
  if (extra.length > 0) throw new UsageError(`fos ping takes one NAME, not also ${extra.map((x) => JSON.stringify(x)).join(' ')}`);
  checkedOption(() => validateName(name));
  const count = Number(values.count ?? 10);
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`--count is a positive integer, got ${values.count}`);
  const times = await withClient(values, async () => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await call(name, PING_METHOD, [], { timeout: 5000 });
      out.push(performance.now() - t0);
      process.stdout.write(`${name}: round trip ${i + 1} ${formatMs(out[out.length - 1]!)}\n`);
    }
    return out;
  });
  const sorted = [...times].sort((a, b) => a - b);
  process.stdout.write(`${count} round trips: min ${formatMs(sorted[0]!)}, median ${formatMs(sorted[Math.floor(sorted.length / 2)]!)}, max ${formatMs(sorted[sorted.length - 1]!)}\n`);
  return 0;
}

/** `fos call NAME METHOD [ARGS_JSON]`: one call, its result printed as JSON. */
export async function callCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, timeout: { type: 'string' } }, allowPositionals: true, strict: true });
  const [name, method, json, ...extra] = positionals;
  if (name === undefined || method === undefined) throw new UsageError('fos call needs a NAME and a METHOD (and the arguments as a JSON array)');
  if (extra.length > 0) throw new UsageError(`fos call takes the arguments as one JSON array ('["a", 1]'), not also ${extra.map((x) => JSON.stringify(x)).join(' ')}`);
  checkedOption(() => validateName(name));
  let args: unknown;
  try {
    args = json === undefined ? [] : JSON.parse(json);
  } catch (e) {
    throw new UsageError(`the arguments are a JSON array: ${(e as Error).message}`);
  }
  if (!Array.isArray(args)) throw new UsageError('the arguments are a JSON array, e.g. \'["a", 1]\'');
  const timeout = Number(values.timeout ?? CALL_TIMEOUT_MS);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout is a positive number of milliseconds, got ${values.timeout}`);
  // The timeout bounds the whole command: joining the cluster, then the call in what is left.
  const t0 = performance.now();
  const result = await withClient(
    values,
    ({ peer, unreached }) => {
      const joined = performance.now() - t0;
      return call(name, method, args as unknown[], { timeout: Math.max(1, timeout - joined) }).catch(async (e: unknown) => {
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
    timeout,
  );
  // A method that returns nothing prints null, as JSON does undefined inside an array.
  process.stdout.write(`${resultJson(result)}\n`);
  return 0;
}

/** `fos stats`: a node's counters. */
export async function statsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, json: { type: 'boolean' } }, strict: true });
  const { stats, self } = await withClient(values, async ({ client, peer }) => ({ stats: await call<NodeStats>(`/sys/nodes/${peer}`, 'stats', []), self: client.name }));
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
