/** What the cluster commands share: reading the secret, and reaching a node from afar. */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { FosError } from '../errors.js';
import { boot, type FosNode } from '../node/node.js';
import type { StatusEvent } from '../node/status.js';
import { call } from '../api.js';
import type { NameListing } from '../names/registry.js';
import { clientName } from './node-output.js';

/** The cluster secret: from --secret-file, else FOS_SECRET; never from argv, where `ps` would show it. */
export function readSecret(file: string | undefined): string | undefined {
  if (file !== undefined) {
    let s: string;
    try {
      s = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new FosError('EINVAL', `cannot read the secret file ${file}: ${(e as Error).message}`);
    }
    if (s.length === 0) throw new FosError('EINVAL', `the secret file ${file} is empty`);
    warnIfShared(file);
    return s;
  }
  const env = process.env['FOS_SECRET'];
  return env === undefined || env === '' ? undefined : env;
}

/** A secret file others may read is the cluster's secret given away: said, not refused (a shared machine's operator may mean it). */
function warnIfShared(file: string): void {
  if (process.platform === 'win32') return; // no POSIX modes
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) process.stderr.write(`fos: warning: the secret file ${file} can be read by others (mode ${mode.toString(8).padStart(3, '0')}): chmod 600 ${file}\n`);
}

export const DEFAULT_NODE = '127.0.0.1:7070';
/**
 * Refused connections after which a client gives up on its node's address:
 * with the backoff from 50 ms (and jitter), 0.4 to 0.75 s after the first,
 * time enough for a node started just before to listen.
 */
const REFUSALS = 5;
/** How long a client waits for the nodes it learns of beyond the one it joins through, at most. */
const OTHERS_MS = 2000;
/** A connection refused, or taken and dropped without a word of the fos protocol (a Close frame would say why). */
const UNANSWERED = /^(socket error: .*(ECONNREFUSED|ECONNRESET)|connection closed)/;
/** A handshake whose first frames are not fos frames: an HTTP, SSH or other server. */
const NOT_FOS = /malformed stream|protocol version|unexpected frame kind|malformed hello/;

/** A client in a cluster, as joinAsClient leaves it. */
export interface JoinedClient {
  readonly client: FosNode;
  /** The node reached at the address given. */
  readonly peer: string;
  /** The listening nodes that `peer` names and the client did not reach in time: their names are `peer`'s word only. */
  readonly unreached: readonly string[];
}

/**
 * Joins the cluster through the node at `address` as a short-lived client
 * node, within `timeoutMs`: waits until that node is up (its names
 * known), then for up to OTHERS_MS more (and at most half the time left)
 * until every listening node it names (by their `/sys/nodes/` services)
 * is up too, so that the client sees the whole cluster; those not reached
 * by then (a node that just died, and is not declared down yet) are named
 * in a warning on stderr and in `unreached`. Fails at once when nothing
 * listens at `address` or what does drops every connection, what does is not a fos node, it refuses this
 * client's secret, or it does not finish the handshake (a stopped or
 * foreign server that says nothing).
 */
export async function joinAsClient(address: string, secret: string | undefined, timeoutMs = 10_000): Promise<JoinedClient> {
  const deadline = performance.now() + timeoutMs;
  const left = (): number => Math.max(0, deadline - performance.now());
  // The pid and 24 random bits: pids repeat across hosts and containers, and a node name is unique in a cluster.
  const client = await boot({ name: clientName(process.pid, randomBytes(3).toString('hex')), peers: [address], ...(secret !== undefined ? { secret } : {}) });
  const events = client.status();
  const up = new Set<string>();
  const down = new Set<string>();
  let last: Extract<StatusEvent, { reason: string }> | undefined;
  /** Why the server at `address` last dropped a connection it took, if it did. */
  let dropped: string | undefined;
  const waitUntil = async (done: () => boolean, ms: number): Promise<boolean> => {
    const timer = setTimeout(() => void events.return?.(), ms);
    try {
      while (!done()) {
        const r = await events.next();
        if (r.done === true) return false;
        const ev = r.value;
        if (ev.type === 'peer-up') up.add(ev.node);
        else if (ev.type === 'peer-down') down.add(ev.node);
        else if (ev.type === 'handshake-rejected' && ev.address === address && NOT_FOS.test(ev.reason)) {
          throw new FosError('EINVAL', `what listens at ${address} does not speak this version of the fos protocol: ${ev.reason}`);
        } else if (ev.type === 'handshake-rejected' && ev.code === 'EACCES') {
          const hint = secret === undefined ? ' (this client has no secret: set FOS_SECRET or give --secret-file)' : ' (this client has another secret than the cluster)';
          throw new FosError('EACCES', `${address} refused this client${hint}: ${ev.reason.replace(/^EACCES: /, '')}`);
        } else if (ev.type === 'handshake-rejected' && ev.address === address && ev.code === 'ETIMEDOUT' && ev.by === 'local') {
          throw new FosError('ETIMEDOUT', `what listens at ${address} took the connection but did not answer the fos handshake (a stopped node, or another kind of server): ${ev.reason}`);
        } else if (ev.type === 'reconnecting' && ev.address === address && UNANSWERED.test(ev.reason)) {
          // Nothing there, or something that takes the connection and drops it before any fos frame: no use waiting.
          if (!/ECONNREFUSED/.test(ev.reason)) dropped = ev.reason;
          if (ev.attempt >= REFUSALS && dropped === undefined) throw new FosError('ENOENT', `no node listens at ${address}: ${ev.reason} (${ev.attempt} attempts)`);
          if (ev.attempt >= REFUSALS) throw new FosError('ECONNRESET', `what listens at ${address} drops the connection before the fos handshake (another kind of server, or a node shutting down): ${dropped} (${ev.attempt} attempts)`);
          last = ev;
        } else if (ev.type === 'handshake-rejected' || ev.type === 'reconnecting') last = ev;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    if (!(await waitUntil(() => up.size > 0, left()))) {
      throw new FosError('ETIMEDOUT', `could not join the cluster through ${address} within ${timeoutMs} ms${last === undefined ? '' : `: ${last.reason}`}`);
    }
    const peer = [...up][0]!;
    const names = await namesSeenBy(peer, Math.max(1, left()));
    const nodes = names.filter((n) => n.name.startsWith(SYS_NODES)).map((n) => n.name.slice(SYS_NODES.length));
    const missing = (): string[] => nodes.filter((n) => !up.has(n) && !down.has(n));
    // Half of what is left at most: the command the client joined for needs time too (fos call's --timeout bounds both).
    const othersMs = Math.min(OTHERS_MS, left() / 2);
    if (!(await waitUntil(() => missing().length === 0, othersMs))) {
      process.stderr.write(`fos: warning: not reached within ${Math.round(othersMs)} ms: ${missing().join(', ')} (what ${peer} says of them may be stale: a node that died is known as down only after the down timeout)\n`);
    }
    return { client, peer, unreached: missing() };
  } catch (e) {
    await client.shutdown();
    throw e;
  } finally {
    await events.return?.();
  }
}

/** Every listening node serves its system service under this prefix and its name. */
export const SYS_NODES = '/sys/nodes/';

/** The cluster's names as node `peer` sees them (its system service's listing). */
export function namesSeenBy(peer: string, timeout?: number): Promise<NameListing[]> {
  return call<NameListing[]>(`${SYS_NODES}${peer}`, 'names', [], timeout === undefined ? {} : { timeout });
}
