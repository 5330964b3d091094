/**
 * What a node remembers of each peer across sessions (see handshake.ts):
 *
 * - its epoch: how many times this node declared the peer down for silence;
 * - the ids of the sessions with it that this node ended, so that no later
 *   handshake starts one of them again: one that began before the session
 *   ended (its Ready names the id the ended one had), or one with a stale
 *   incarnation of the peer. Either would give both sides one id with two
 *   numberings of frames;
 * - the incarnation of the peer it last held a session with, and the ones
 *   that incarnation replaced: a process of the peer's name that comes back
 *   from a hang or a partition after its replacement took over is refused
 *   from then on (a newer incarnation supersedes an older one, never the
 *   other way), instead of taking the session back each time its own down
 *   timeout gives it a new session id.
 *
 * Bounded: past MAX_PEERS the peer touched least recently that has no
 * session now is forgotten (nodes come and go: every `fos call` from the
 * command line is one), and per peer the oldest ended ids past MAX_ENDED
 * and incarnations past MAX_RETIRED. A forgotten peer starts over at
 * epoch 0, which can matter only for a peer that had no session with this
 * node while a thousand others came and went after it.
 */
const MAX_PEERS = 1024;
const MAX_ENDED = 64;
const MAX_RETIRED = 16;

interface Entry {
  epoch: number;
  readonly ended: string[];
  /** The incarnation of the last session held. */
  incarnation: string | undefined;
  readonly retired: string[];
}

export class PeerHistory {
  /** In order of last touch, oldest first (a Map keeps insertion order). */
  private readonly peers = new Map<string, Entry>();

  /** `live(peer)`: this node holds a session with it now (such a peer is never forgotten). */
  constructor(private readonly live: (peer: string) => boolean) {}

  epoch(peer: string): number {
    return this.peers.get(peer)?.epoch ?? 0;
  }

  /** This node declared `peer` down for its silence. */
  bump(peer: string): void {
    this.touch(peer).epoch++;
  }

  /** This node ended its session `sid` with `peer`. */
  end(peer: string, sid: string): void {
    const e = this.touch(peer);
    e.ended.push(sid);
    if (e.ended.length > MAX_ENDED) e.ended.shift();
  }

  /** Whether this node ended a session `sid` with `peer`. */
  ended(peer: string, sid: string): boolean {
    return this.peers.get(peer)?.ended.includes(sid) === true;
  }

  /** A session with incarnation `inc` of `peer` was adopted: an earlier incarnation is retired. */
  met(peer: string, inc: string): void {
    const e = this.touch(peer);
    if (e.incarnation !== undefined && e.incarnation !== inc) {
      e.retired.push(e.incarnation);
      if (e.retired.length > MAX_RETIRED) e.retired.shift();
    }
    e.incarnation = inc;
  }

  /** Whether incarnation `inc` of `peer` was replaced by a later one. */
  retired(peer: string, inc: string): boolean {
    return this.peers.get(peer)?.retired.includes(inc) === true;
  }

  private touch(peer: string): Entry {
    const e = this.peers.get(peer) ?? { epoch: 0, ended: [], incarnation: undefined, retired: [] };
    this.peers.delete(peer);
    this.peers.set(peer, e);
    if (this.peers.size > MAX_PEERS) {
      for (const p of this.peers.keys()) {
        if (this.live(p)) continue;
        this.peers.delete(p);
        break;
      }
    }
    return e;
  }
}
