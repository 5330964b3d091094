// Nodes in processes of their own, for the tests across nodes.
import { fork, type ChildProcess } from 'node:child_process';
import type { FosNode, NodeStats, StatusEvent } from '../../src/index.js';
import type { FromRemote, RemoteNodeConfig } from '../fixtures/remote-node.js';

const REMOTE_NODE = new URL('../fixtures/remote-node.js', import.meta.url);

export interface RemoteNode {
  readonly name: string;
  readonly address: string | undefined;
  readonly child: ChildProcess;
  /** Status events the node reported so far. */
  readonly events: StatusEvent[];
  stats(): Promise<NodeStats>;
  /** Has the node dial another. */
  dial(address: string): void;
  /** Spawns a service module on the node. */
  spawn(module: URL, data: unknown): Promise<void>;
  /** A clean shutdown; resolves when the process has exited. */
  shutdown(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
}

/** Starts a node in a child process; resolves once it is ready (its `waitFor` peers are up). */
export function startNode(config: RemoteNodeConfig, timeoutMs = 20_000): Promise<RemoteNode> {
  const child = fork(REMOTE_NODE, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const events: StatusEvent[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let statsWaiter: ((s: NodeStats) => void) | undefined;
  let spawnWaiter: ((error?: string) => void) | undefined;
  // The parent may exit while the node runs: the node exits when its IPC channel closes.
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${config.boot.name ?? '?'} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${config.boot.name ?? '?'} exited with ${code} before it was ready`));
    });
    child.on('message', (m: FromRemote | { type: 'stats'; stats: NodeStats } | { type: 'spawned'; error?: string }) => {
      if (m.type === 'status') events.push(m.event);
      else if (m.type === 'stats') statsWaiter?.(m.stats);
      else if (m.type === 'spawned') spawnWaiter?.(m.error);
      else if (m.type === 'failed') reject(new Error(m.message));
      else {
        clearTimeout(timer);
        resolve({
          name: m.node,
          address: m.address,
          child,
          events,
          stats: () =>
            new Promise((res) => {
              statsWaiter = res;
              child.send({ op: 'stats' });
            }),
          dial: (address) => void child.send({ op: 'dial', address }),
          spawn: (module, data) =>
            new Promise((res, rej) => {
              spawnWaiter = (error) => (error === undefined ? res() : rej(new Error(error)));
              child.send({ op: 'spawn', module: module.href, data });
            }),
          shutdown: async () => {
            if (child.exitCode === null && child.signalCode === null && child.connected) child.send({ op: 'shutdown' });
            await exited;
          },
          kill: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
