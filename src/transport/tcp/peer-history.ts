/**
 * What a node remembers of each peer across sessions (see handshake.ts):
 * its epoch, how many times this node declared the peer down for silence;
 * and the ids of the sessions with it that this node ended, so that no
 * later handshake starts one of them again: one that began before the
 * session ended (its Ready names the id the ended one had), or one with a
 * stale incarnation of the peer, still alive beside the one that replaced
 * it. Either would give both sides one id with two numberings of frames.
 *
 * Bounded: past MAX_PEERS the peer touched least recently is forgotten
 * (nodes come and go: every `fos call` from the command line is one), and
 * past MAX_ENDED a peer's oldest ended id. A forgotten peer starts over at
 * epoch 0, which matters only if it has been silent, yet holds a session
 * of this node's, across a thousand other peers' comings and goings.
 */
const MAX_PEERS = 1024;
const MAX_ENDED = 64;

interface Entry {
  epoch: number;
  readonly ended: string[];
}

export class PeerHistory {
  /** In order of last touch, oldest first (a Map keeps insertion order). */
  private readonly peers = new Map<string, Entry>();

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

  private touch(peer: string): Entry {
    const e = this.peers.get(peer) ?? { epoch: 0, ended: [] };
    this.peers.delete(peer);
    this.peers.set(peer, e);
    if (this.peers.size > MAX_PEERS) this.peers.delete(this.peers.keys().next().value!);
    return e;
  }
}
