/**
 * Whether this node's name belongs to another process, read from its status
 * events: peers refuse its handshakes with EEXIST, because a live process
 * holds the name (two nodes were given one name), or because a later
 * process of the name replaced this one (back from a hang).
 *
 * A node restarted after a crash is refused the same way, but only until
 * its former process has been silent for three heartbeats, which is never
 * longer than the down timeout. So a peer that has refused this node for
 * longer than the down timeout, and not let it in meanwhile, keeps the name
 * for another process; a daemon that went on redialing would only fill two
 * logs. (This takes the cluster's nodes to share their heartbeat; a peer
 * with a longer one may refuse a restart for longer.) So does a peer that
 * refused it until this node declared it down: a restarted process holds
 * no session to declare down, and a peer refuses a process it holds a
 * session with only for another one of its name. A process back from a
 * hang learns so when it redials the peers it knew; it stops then rather
 * than run on alone.
 */
import type { StatusEvent } from '../node/status.js';

export class NameTakenWatch {
  /** When each refusing peer first refused this node since it last let it in. */
  private readonly since = new Map<string, number>();

  constructor(
    /** This node's down timeout, in ms. */
    private readonly patienceMs: number,
  ) {}

  /** Takes a status event that came at `now` (ms); gives why this node should stop, once it should. */
  see(ev: StatusEvent, now: number): string | undefined {
    if (ev.type === 'peer-up') this.since.delete(ev.node);
    if (ev.type === 'peer-down' && this.since.has(ev.node)) {
      return `${ev.node} refused this node's name until it was declared down (${ev.reason})`;
    }
    if (ev.type !== 'handshake-rejected' || ev.by !== 'peer' || ev.code !== 'EEXIST') return undefined;
    const peer = ev.node ?? ev.address;
    const first = this.since.get(peer) ?? now;
    this.since.set(peer, first);
    if (now - first <= this.patienceMs) return undefined;
    return `${peer} has refused this node's name for ${Math.round(now - first)} ms, longer than the down timeout (${this.patienceMs} ms): ${ev.reason}`;
  }
}
