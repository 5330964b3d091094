/**
 * What `fos node` prints on stderr while it runs: its log lines and its
 * status events, in words, each said once while it keeps repeating (a peer
 * with the wrong secret, redialed forever, would otherwise fill the
 * terminal with the same lines every two seconds).
 */
import type { StatusEvent } from '../node/status.js';

/**
 * A status event in words, or undefined for those the node's log already
 * says in a line of its own (a refused handshake, a peer declared down).
 * `isolateOf` says what an isolate runs (`fos node` names the service).
 */
export function statusLine(ev: StatusEvent, isolateOf: (isolate: number, module: string) => string = (i, m) => `isolate ${i} (${m})`): string | undefined {
  switch (ev.type) {
    case 'isolate-crashed':
      return `${isolateOf(ev.isolate, ev.module)} crashed (exit code ${ev.exitCode})${ev.error !== undefined ? `: ${ev.error}` : ', without an error: it exited by itself'}`;
    case 'peer-up':
      return ev.resumed ? `session with ${ev.node} resumed (at ${ev.address})` : `peer ${ev.node} is up (at ${ev.address})`;
    case 'reconnecting':
      return `redialing ${ev.address}${ev.node !== undefined ? ` (node ${ev.node})` : ''} in ${ev.delayMs} ms, attempt ${ev.attempt}: ${ev.reason}`;
    case 'slow-peer':
      return ev.slow ? `peer ${ev.node} is slow: ${ev.pendingBytes} bytes wait for its acknowledgement` : `peer ${ev.node} caught up (${ev.pendingBytes} bytes unacknowledged)`;
    case 'dropped':
      return `${ev.count} status events not shown: they came faster than they were written`;
    case 'handshake-rejected':
    case 'peer-down':
      return undefined;
  }
}

/** What makes two lines "the same" for RepeatFilter: a redial's attempt and delay change every time, its address and reason do not. */
export function repeatKey(ev: StatusEvent, line: string): string {
  return ev.type === 'reconnecting' ? `reconnecting ${ev.address} ${ev.reason}` : line;
}

/** The name a client node of `fos ls`, `call`, `ping` or `stats` takes: its pid and 24 random bits. */
export function clientName(pid: number, random: string): string {
  return `cli-${pid}-${random}`;
}

const CLIENT_NAMES = /\bcli-\d+-[0-9a-f]{6}\b/g;
/** IPv4 and bracketed IPv6 addresses, with their port (or logKey's `*`) if any. */
const ADDRESSES = /(?:\b\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])(?::(?:\d{1,5}|\*))?/g;

/** Whether node `node` is the client node of a command (clientName). */
export function isClient(node: string): boolean {
  return node.replace(CLIENT_NAMES, '') === '';
}

/**
 * The key of a line (logKey, repeatKey) that speaks of a client node: the
 * line with every client's name and every address made one, so that all
 * clients' lines of one kind are one key. A script that runs `fos call` in
 * a loop then makes a node say three lines a minute, with their counts,
 * not three per call. Other lines keep their key.
 */
export function clientKey(key: string): string {
  const named = key.replace(CLIENT_NAMES, '<client>');
  return named === key ? key : named.replace(ADDRESSES, '<address>');
}

/**
 * The key of a log line: the line with the port of every IPv4 address left
 * out. A dialer comes from a new port at every redial, so that a peer
 * refused at every redial makes one line; lines that differ only in a port
 * merge into one and its count.
 */
export function logKey(line: string): string {
  return line.replace(/\b(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}\b/g, '$1:*');
}

/**
 * Whether `line` names `word` as a whole: node `n1` is not in `n12`, nor
 * address `h:700` in `h:7000`, but `n1` is in "to n1: refused" (a colon or
 * dot that ends a clause). An empty word is in no line.
 */
export function mentions(line: string, word: string): boolean {
  if (word === '') return false;
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w.:-])${escaped}(?=$|[^\\w.:-]|[.:](?:\\s|$))`).test(line);
}

/** Whether the line of `key` speaks of the peer `node` at `address` (a log line's key has its address without the port: logKey). */
export function speaksOf(key: string, node: string, address: string): boolean {
  return mentions(key, node) || mentions(key, address) || mentions(key, logKey(address));
}

interface Seen {
  /** When the line was last printed. */
  shownAt: number;
  /** Lines with its key held back since. */
  more: number;
  /** The last of them (or the line printed). */
  text: string;
}

/**
 * Says a line through `write` unless it repeats (by key) one said less
 * than `periodMs` before; says how many it held back when it says that
 * line again, when `reset` forgets it, or when it forgets it to stay
 * within `limit` keys (the least recently said goes first).
 */
export class RepeatFilter {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly periodMs = 60_000,
    private readonly limit = 256,
  ) {}

  say(key: string, text: string, now: number): void {
    const s = this.seen.get(key);
    if (s !== undefined && now - s.shownAt < this.periodMs) {
      s.more++;
      s.text = text;
      return;
    }
    this.seen.delete(key); // re-inserted last: the map's order is the order of saying
    if (this.seen.size >= this.limit) this.forget(this.seen.keys().next().value!);
    this.seen.set(key, { shownAt: now, more: 0, text });
    this.write(s !== undefined && s.more > 0 ? `${text} (${s.more} more like it held back in the last ${Math.round((now - s.shownAt) / 1000)} s)` : text);
  }

  /**
   * Something changed (a peer came up): the lines whose key `matches`
   * (every line, without it) may mean a new incident when they recur, so
   * they are forgotten, and said again then.
   */
  reset(matches: (key: string) => boolean = () => true): void {
    for (const key of [...this.seen.keys()]) if (matches(key)) this.forget(key);
  }

  /** Forgets `key`, saying the last line it held back and how many, if any. */
  private forget(key: string): void {
    const s = this.seen.get(key);
    this.seen.delete(key);
    if (s !== undefined && s.more > 0) this.write(`${s.text} (the last of ${s.more} like it held back)`);
  }
}
