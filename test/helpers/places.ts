// Where the other party of a scenario lives: in this isolate ('local') or in
// a worker ('kernel'). Scenarios are written once against `Place` and run
// over every transport that exists.
import { connect, createMailbox, FosError, lookup, send, sendMany, type FosNode, type MailboxOptions, type Ref, type Remote, type SendOptions } from '../../src/index.js';
import type { Agent } from '../fixtures/agent.js';
import { peerUp, startNode, type RemoteNode } from './cluster.js';

export const AGENT = new URL('../fixtures/agent.js', import.meta.url);
export const ECHO = new URL('../fixtures/echo.js', import.meta.url);

/** An agent's call fails with EREMOTE wrapping its own FosError: give back the inner code. */
export async function unwrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const inner = e instanceof FosError && e.code === 'EREMOTE' ? e.remote?.code : undefined;
    if (inner !== undefined) throw new FosError(inner as FosError['code'], e instanceof Error ? e.message : '');
    throw e;
  }
}

export interface Box {
  readonly ref: Ref;
  take(n: number, timeoutMs?: number): Promise<unknown[]>;
  drain(): Promise<unknown[]>;
  depth(): Promise<{ depth: number; waiting: number }>;
  close(): Promise<void>;
}

export interface Place {
  /** 'auto': the pair starts on kernel and moves to shm after a few messages, mid-scenario. 'tcp': a worker of another node. */
  readonly transport: 'local' | 'kernel' | 'shm' | 'auto' | 'tcp';
  /** The options that make a send from this thread use this place's transport. */
  readonly opts: { readonly transport?: 'kernel' | 'shm' | 'tcp' };
  /** A mailbox living at this place. */
  box(opts?: MailboxOptions): Promise<Box>;
  /** Sends from this place. */
  send(target: string | Ref, data: unknown, opts?: Omit<SendOptions, 'signal' | 'transfer'>): Promise<void>;
  /** sendMany from this place. */
  sendMany(target: string | Ref, items: unknown[], opts?: Omit<SendOptions, 'signal' | 'transfer'>): Promise<void>;
}

export function localPlace(): Place {
  return {
    transport: 'local',
    opts: {},
    async box(opts = {}) {
      const mb = await createMailbox(opts);
      return {
        ref: mb.ref,
        async take(n, timeoutMs = 10_000) {
          const signal = AbortSignal.timeout(timeoutMs);
          const out: unknown[] = [];
          while (out.length < n) out.push((await mb.receive({ signal })).data);
          return out;
        },
        async drain() {
          const out: unknown[] = [];
          for (let m = mb.tryReceive(); m !== undefined; m = mb.tryReceive()) out.push(m.data);
          return out;
        },
        depth: async () => ({ depth: mb.depth, waiting: mb.waiting }),
        close: async () => mb.close(),
      };
    },
    send: (target, data, opts) => send(target, data, opts),
    sendMany: (target, items, opts) => sendMany(target, items, opts),
  };
}

/** A place in the agent worker, reached over `transport` (forced, in both directions, unless 'auto'). */
export function agentPlace(agentName: string, transport: 'kernel' | 'shm' | 'auto' | 'tcp' = 'kernel'): Place & { agent: Remote<Agent> } {
  const forced = transport === 'auto' ? {} : { transport };
  const agent = connect<Agent>(agentName, { timeout: 60_000, ...forced });
  return {
    transport,
    opts: forced,
    agent,
    async box(opts = {}) {
      const { id, ref } = await agent.box(opts);
      return {
        ref,
        take: (n, timeoutMs = 10_000) => unwrap(agent.take(id, n, timeoutMs)),
        drain: () => agent.drain(id),
        depth: () => agent.depth(id),
        close: () => agent.closeBox(id),
      };
    },
    send: (target, data, opts) => unwrap(agent.send(target, data, { ...forced, ...opts })),
    sendMany: (target, items, opts) => unwrap(agent.sendMany(target, items, { ...forced, ...opts })),
  };
}

let remotes = 0;

/**
 * A worker of another node (a process of its own, peered with `node`),
 * reached over tcp: messages from this thread go through this node's proxy,
 * the worker's through its node's main thread and proxy.
 */
export async function tcpPlace(node: FosNode, agentName: string): Promise<Place & { agent: Remote<Agent>; remote: RemoteNode }> {
  if (node.address === undefined) throw new Error('a tcp place needs a node that listens: boot({ listen: "127.0.0.1:0" })');
  const name = `remote-${process.pid}-${++remotes}`;
  const up = peerUp(node, name);
  const remote = await startNode({ boot: { name, peers: [node.address] }, spawn: [{ module: AGENT.href, data: { name: agentName } }], waitFor: [node.name] });
  await up;
  // Its agent's name may come after the node's table: wait for the binding.
  await eventually(() => lookup(agentName).then(() => true, () => false), 10_000, `${agentName} bound`);
  return { ...agentPlace(agentName, 'tcp'), remote };
}

/**
 * Every place a scenario runs at: this thread, a worker over kernel, a
 * worker over shm, a worker on 'auto' (a fresh pair, so the scenario
 * crosses the kernel→shm switch) and, when `node` listens, a worker of
 * another node over tcp.
 */
export async function places(node: FosNode, agentName = '/test/agent'): Promise<Place[]> {
  await node.spawn(AGENT, { data: { name: `${agentName}/kernel` } });
  await node.spawn(AGENT, { data: { name: `${agentName}/shm` } });
  await node.spawn(AGENT, { data: { name: `${agentName}/auto` } });
  const all: Place[] = [localPlace(), agentPlace(`${agentName}/kernel`, 'kernel'), agentPlace(`${agentName}/shm`, 'shm'), agentPlace(`${agentName}/auto`, 'auto')];
  if (node.address !== undefined) all.push(await tcpPlace(node, `${agentName}/tcp`));
  return all;
}

/** Waits until `check` holds, polling every 5 ms, or fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The code of the error `p` rejects with; fails if it resolves. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FosError) return e.code;
    throw e;
  }
  throw new Error('expected a rejection, got a value');
}

/** Whether `p` settles (either way) within `ms`. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return done;
}

/** Rejects if `p` has not settled within `ms`: a hang fails the test with a reason instead of a test timeout. */
export function within<T>(p: Promise<T>, ms: number, what = 'the promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
