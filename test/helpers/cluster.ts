// Nodes in processes of their own, for the tests across nodes.
import { fork, type ChildProcess } from 'node:child_process';
import type { FosNode, NodeStats, StatusEvent } from '../../src/index.js';
import type { Called, FromRemote, RemoteNodeConfig } from '../fixtures/remote-node.js';

const REMOTE_NODE = new URL('../fixtures/remote-node.js', import.meta.url);

export interface RemoteNode {
  readonly name: string;
  readonly address: string | undefined;
  /** With `lookupAfterWaitForPeers`: how many members the name had right after waitForPeers. */
  readonly found: number | undefined;
  readonly child: ChildProcess;
  /** Status events the node reported so far. */
  readonly events: StatusEvent[];
  stats(): Promise<NodeStats>;
  /** A call made by the node's main thread (the test process need not be a node of its cluster). */
  call(target: string, method: string, args: unknown[], timeoutMs?: number): Promise<unknown>;
  /** Has the node dial another. */
  dial(address: string): void;
  /** Holds up the node's main thread for `ms` (a synchronous loop, as a long task would). */
  block(ms: number): void;
  /** Spawns a service module on the node. */
  spawn(module: URL, data: unknown): Promise<void>;
  /** A clean shutdown; resolves when the process has exited. */
  shutdown(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
}

/**
 * Starts a node in a child process; resolves once it is ready (its
 * `waitFor` peers are up). With `netns`, the process runs in that network
 * namespace (`ip netns exec`, which keeps the IPC channel's descriptor).
 */
export function startNode(config: RemoteNodeConfig, timeoutMs = 20_000, netns?: string): Promise<RemoteNode> {
  const where = netns === undefined ? { execArgv: [] } : { execPath: 'ip', execArgv: ['netns', 'exec', netns, process.execPath] };
  const child = fork(REMOTE_NODE, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...where });
  const events: StatusEvent[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let statsWaiter: ((s: NodeStats) => void) | undefined;
  let spawnWaiter: ((error?: string) => void) | undefined;
  const calls = new Map<number, (m: Called) => void>();
  let nextCall = 1;
  // The parent may exit while the node runs: the node exits when its IPC
  // channel closes. The channel keeps the parent alive only while the parent
  // waits for an answer on it.
  child.unref();
  const channel = child.channel as { ref?: () => void; unref?: () => void } | undefined;
  channel?.unref?.();
  let waiting = 0;
  const awaitAnswer = <T>(p: Promise<T>): Promise<T> => {
    if (waiting++ === 0) channel?.ref?.();
    return p.finally(() => {
      if (--waiting === 0) channel?.unref?.();
    });
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${config.boot.name ?? '?'} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${config.boot.name ?? '?'} exited with ${code} before it was ready`));
    });
    child.on('message', (m: FromRemote | { type: 'stats'; stats: NodeStats } | { type: 'spawned'; error?: string } | Called) => {
      if (m.type === 'status') events.push(m.event);
      else if (m.type === 'called') calls.get(m.id)?.(m);
      else if (m.type === 'stats') statsWaiter?.(m.stats);
      else if (m.type === 'spawned') spawnWaiter?.(m.error);
      else if (m.type === 'failed') reject(new Error(m.message));
      else {
        clearTimeout(timer);
        resolve({
          name: m.node,
          address: m.address,
          found: m.found,
          child,
          events,
          stats: () =>
            awaitAnswer(
              new Promise((res) => {
                statsWaiter = res;
                child.send({ op: 'stats' });
              }),
            ),
          dial: (address) => void child.send({ op: 'dial', address }),
          block: (ms) => void child.send({ op: 'block', ms }),
          call: (target, method, args, callTimeout = 30_000) =>
            awaitAnswer(
              new Promise((res, rej) => {
                const id = nextCall++;
                calls.set(id, (r) => {
                  calls.delete(id);
                  if (r.error === undefined) res(r.value);
                  else rej(Object.assign(new Error(r.error.message), { code: r.error.code }));
                });
                child.send({ op: 'call', id, target, method, args, timeout: callTimeout });
              }),
            ),
          spawn: (module, data) =>
            awaitAnswer(
              new Promise((res, rej) => {
                spawnWaiter = (error) => (error === undefined ? res() : rej(new Error(error)));
                child.send({ op: 'spawn', module: module.href, data });
              }),
            ),
          shutdown: async () => {
            if (child.exitCode === null && child.signalCode === null && child.connected) child.send({ op: 'shutdown' });
            child.ref(); // wait for the exit, whatever else keeps this process alive
            await exited;
          },
          kill: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            child.ref();
            await exited;
          },
        });
      }
    });
  });
}

/** Resolves when `node` reports `peer` up (its names known). */
export async function peerUp(node: FosNode, peer: string, timeoutMs = 20_000): Promise<void> {
  await nextEvent(node, (e) => e.type === 'peer-up' && e.node === peer, timeoutMs);
}

/** The first status event of `node` from now on that `match` accepts. */
export async function nextEvent(node: FosNode, match: (e: StatusEvent) => boolean, timeoutMs = 20_000): Promise<StatusEvent> {
  const it = node.status();
  const timer = setTimeout(() => void it.return?.(), timeoutMs);
  try {
    for await (const e of it) if (match(e)) return e;
    throw new Error(`no matching status event within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    await it.return?.();
  }
}
