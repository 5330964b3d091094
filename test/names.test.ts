// The name service and fleets: ENOENT fails fast, bad names are EINVAL,
// unique names conflict with EEXIST, names go when their mailbox closes or
// their isolate dies (and every isolate's cache hears it), round robin over
// a fleet of 3, key stickiness agreed on by every isolate.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, call, connect, createMailbox, lookup, send, serve, type Ref, type Remote } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import type { NamesProbe } from './fixtures/names-probe.js';
import { AGENT, ECHO, codeOf, eventually, unwrap } from './helpers/places.js';

const node = await boot();
after(() => node.shutdown());

/** An agent worker serving under `name`, with its isolate number. */
async function agentAt(name: string): Promise<{ agent: Remote<Agent>; isolate: number }> {
  const svc = await node.spawn(AGENT, { data: { name } });
  const agent = connect<Agent>(name, { timeout: 20_000 });
  return { agent, isolate: svc.isolates[0]! };
}

const observer = await agentAt('/names/observer');

/** Settles `p`, and fails unless it took less than `ms`: a fail-fast path, not a timeout. */
async function fast<T>(p: Promise<T>, ms = 2000): Promise<T> {
  const t0 = performance.now();
  try {
    return await p;
  } finally {
    const took = performance.now() - t0;
    assert.ok(took < ms, `expected to settle at once, took ${took.toFixed(0)} ms`);
  }
}

/** How many times each value occurs. */
function tally(xs: readonly unknown[]): Map<unknown, number> {
  const m = new Map<unknown, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

const isolatesOf = (refs: readonly Ref[]): number[] => refs.map((r) => r.address.isolate).sort((a, b) => a - b);

/** True once `name` has no binding (lookup fails). */
const gone = (name: string): Promise<boolean> => lookup(name).then(
  () => false,
  () => true,
);

/** `[member, hits]` pairs in member order. */
const spread = (hits: readonly unknown[]): [unknown, number][] => [...tally(hits)].sort((a, b) => (a[0] as number) - (b[0] as number));

const fleet = await node.spawn(ECHO, { count: 3, data: { name: '/names/rr' } });
const members = [...fleet.isolates].sort((a, b) => a - b);

describe('unknown names', () => {
  it('lookup, send and call fail fast with ENOENT from the main thread', async () => {
    assert.equal(await fast(codeOf(lookup('/names/nobody'))), 'ENOENT');
    assert.equal(await fast(codeOf(send('/names/nobody', 'hello'))), 'ENOENT');
    assert.equal(await fast(codeOf(call('/names/nobody', 'whoami', [], { timeout: 10_000 }))), 'ENOENT');
  });

  it('lookup, send and call fail fast with ENOENT from a worker', async () => {
    const { agent } = observer;
    assert.equal(await fast(codeOf(unwrap(agent.lookup('/names/nobody')))), 'ENOENT');
    assert.equal(await fast(codeOf(unwrap(agent.send('/names/nobody', 'hello')))), 'ENOENT');
    assert.equal(await fast(codeOf(unwrap(agent.call('/names/nobody', 'whoami', [], { timeout: 10_000 })))), 'ENOENT');
  });

  it('a stale address fails fast: ECLOSED for a closed mailbox, ENOENT for one that never was', async () => {
    const mb = await createMailbox();
    const ref = mb.ref;
    mb.close();
    assert.equal(await fast(codeOf(send(ref, 'late'))), 'ECLOSED');
    assert.equal(await fast(codeOf(unwrap(observer.agent.send(ref, 'late')))), 'ECLOSED');
    const never = { ...ref, address: { ...ref.address, mailbox: ref.address.mailbox + 1_000_000 } };
    assert.equal(await fast(codeOf(send(never, 'nobody'))), 'ENOENT');
    assert.equal(await fast(codeOf(unwrap(observer.agent.send(never, 'nobody')))), 'ENOENT');
  });
});

describe('bad names', () => {
  const bad: unknown[] = ['a/b', '', '/a//b', '/a/', '/../x', '/' + 'a'.repeat(299), '/', 'relative', '/a/.hidden', '/a b', 42, null, undefined, { name: '/a' }];
  const show = (n: unknown): string => (typeof n === 'string' && n.length > 40 ? `${n.slice(0, 12)}... (${n.length} chars)` : JSON.stringify(n) ?? String(n));

  for (const name of bad) {
    it(`${show(name)} is EINVAL for createMailbox, lookup and send`, async () => {
      if (name !== undefined) {
        // createMailbox({ name: undefined }) is simply an unnamed mailbox.
        assert.equal(await codeOf(createMailbox({ name: name as string })), 'EINVAL', 'createMailbox({ name })');
        assert.equal(await codeOf(createMailbox({ fleet: name as string })), 'EINVAL', 'createMailbox({ fleet })');
      }
      assert.equal(await codeOf(lookup(name as string)), 'EINVAL', 'lookup');
      assert.equal(await codeOf(send(name as string, 'x')), 'EINVAL', 'send');
      assert.equal(await codeOf(call(name as string, 'whoami', [], { timeout: 10_000 })), 'EINVAL', 'call');
    });
  }

  it('say what is wrong with them: the characters a segment takes, or an empty segment', async () => {
    const messageOf = (name: string): Promise<string> => lookup(name).then(() => assert.fail('resolved'), (e: unknown) => (e as Error).message);
    assert.match(await messageOf('/a~b'), /bad name segment "a~b" in "\/a~b": a segment is ASCII letters, digits and _ \. : @ \+ -, starting with a letter, a digit or _$/);
    assert.match(await messageOf('/a//b'), /bad name segment "" in "\/a\/\/b": an empty one \(a doubled or trailing slash\)$/);
  });

  it('are EINVAL from a worker too', async () => {
    const { agent } = observer;
    for (const name of ['a/b', '', '/a//b', '/a/', '/../x', '/' + 'a'.repeat(299)]) {
      assert.equal(await codeOf(unwrap(agent.box({ name }))), 'EINVAL', `box ${show(name)}`);
      assert.equal(await codeOf(unwrap(agent.lookup(name))), 'EINVAL', `lookup ${show(name)}`);
      assert.equal(await codeOf(unwrap(agent.send(name, 'x'))), 'EINVAL', `send ${show(name)}`);
    }
    assert.equal(await codeOf(unwrap(agent.lookup(42 as unknown as string))), 'EINVAL', 'lookup 42');
  });

  it('good names are accepted: 255 characters, every allowed character', async () => {
    for (const name of ['/' + 'a'.repeat(254), '/names/A-z_0.9:x@y+z', '/names/ok/deep/er']) {
      const mb = await createMailbox({ name });
      assert.deepStrictEqual(await lookup(name), [mb.ref]);
      mb.close();
    }
  });

  it('a failed binding leaves no mailbox behind', async () => {
    const before = (await node.stats()).isolates[0]!.stats!.mailboxes.length;
    await codeOf(createMailbox({ name: '/a//b' }));
    await codeOf(createMailbox({ name: '/names/half-bound', fleet: '/bad//fleet' }));
    const after = (await node.stats()).isolates[0]!.stats!.mailboxes.length;
    assert.equal(after, before);
    // The half-bound unique name went with its mailbox.
    assert.equal(await codeOf(lookup('/names/half-bound')), 'ENOENT');
  });
});

describe('unique names', () => {
  it('bound twice: EEXIST, and the first binding stays', async () => {
    const first = await createMailbox({ name: '/names/uniq' });
    assert.equal(await codeOf(createMailbox({ name: '/names/uniq' })), 'EEXIST');
    assert.equal(await codeOf(unwrap(observer.agent.box({ name: '/names/uniq' }))), 'EEXIST', 'from a worker');
    assert.deepStrictEqual(await lookup('/names/uniq'), [first.ref]);
    assert.deepStrictEqual(await observer.agent.lookup('/names/uniq'), [first.ref]);
    first.close();
  });

  it('over an existing fleet name: EEXIST; a fleet over a unique name: EEXIST', async () => {
    const member = await createMailbox({ fleet: '/names/fleet-taken' });
    assert.equal(await codeOf(createMailbox({ name: '/names/fleet-taken' })), 'EEXIST');
    assert.equal(await codeOf(unwrap(observer.agent.box({ name: '/names/fleet-taken' }))), 'EEXIST', 'from a worker');
    assert.deepStrictEqual(await lookup('/names/fleet-taken'), [member.ref]);

    const owner = await createMailbox({ name: '/names/uniq-taken' });
    assert.equal(await codeOf(createMailbox({ fleet: '/names/uniq-taken' })), 'EEXIST');
    assert.equal(await codeOf(unwrap(observer.agent.box({ fleet: '/names/uniq-taken' }))), 'EEXIST', 'from a worker');
    assert.deepStrictEqual(await lookup('/names/uniq-taken'), [owner.ref]);
    member.close();
    owner.close();
  });

  it('can be bound again once its mailbox closed', async () => {
    const a = await createMailbox({ name: '/names/reuse' });
    a.close();
    const b = await createMailbox({ name: '/names/reuse' });
    assert.deepStrictEqual(await lookup('/names/reuse'), [b.ref]);
    b.close();
  });
});

describe('unbinding on close', () => {
  it('a mailbox of the main thread: its names go, for main and for a worker that had it cached', async () => {
    const mb = await createMailbox({ name: '/names/closing/main', fleet: '/names/closing/main-fleet' });
    assert.deepStrictEqual(await lookup('/names/closing/main'), [mb.ref]);
    // The worker looks both names up, so they sit in its cache.
    assert.deepStrictEqual(await observer.agent.lookup('/names/closing/main'), [mb.ref]);
    assert.deepStrictEqual(await observer.agent.lookup('/names/closing/main-fleet'), [mb.ref]);
    mb.close();
    assert.equal(await codeOf(lookup('/names/closing/main')), 'ENOENT');
    assert.equal(await codeOf(lookup('/names/closing/main-fleet')), 'ENOENT');
    assert.equal(await codeOf(send('/names/closing/main', 'x')), 'ENOENT');
    // A send from the worker fails at once, from its cache or not: the mailbox is gone.
    assert.equal(await codeOf(unwrap(observer.agent.send('/names/closing/main', 'x'))), 'ENOENT');
    // The worker's invalidation travels on its control port, which the call
    // asking it here may overtake (it goes over shm once the pair is busy):
    // allow it to land, as for a worker's own notice below.
    const goneForWorker = (name: string) => () => codeOf(unwrap(observer.agent.lookup(name))).then((c) => c === 'ENOENT', () => false);
    await eventually(goneForWorker('/names/closing/main'), 3000, "the worker's cache to drop the name");
    await eventually(goneForWorker('/names/closing/main-fleet'), 3000, "the worker's cache to drop the fleet");
  });

  it('a mailbox of a worker closed by it: its names go, for main and for another worker that had it cached', async () => {
    const owner = await agentAt('/names/closing/owner');
    const { id, ref } = await owner.agent.box({ name: '/names/closing/worker', fleet: '/names/closing/worker-fleet' });
    assert.equal(ref.address.isolate, owner.isolate);
    assert.deepStrictEqual(await owner.agent.lookup('/names/closing/worker'), [ref]);
    assert.deepStrictEqual(await lookup('/names/closing/worker'), [ref]);
    assert.deepStrictEqual(await observer.agent.lookup('/names/closing/worker'), [ref]);
    assert.deepStrictEqual(await observer.agent.lookup('/names/closing/worker-fleet'), [ref]);
    await owner.agent.closeBox(id);
    // The unbinding is a fire-and-forget notice from the worker: allow it to land.
    await eventually(() => gone('/names/closing/worker'), 3000, 'main to see the name go');
    assert.equal(await codeOf(lookup('/names/closing/worker-fleet')), 'ENOENT');
    assert.equal(await codeOf(unwrap(observer.agent.lookup('/names/closing/worker'))), 'ENOENT', "other worker's cache invalidated");
    assert.equal(await codeOf(unwrap(observer.agent.lookup('/names/closing/worker-fleet'))), 'ENOENT', "other worker's cache invalidated");
    // The owner itself no longer resolves the name either.
    assert.equal(await codeOf(unwrap(owner.agent.lookup('/names/closing/worker'))), 'ENOENT', "owner's own view");
    // Other bindings of that worker are untouched: its service still answers.
    assert.equal(await owner.agent.whoami(), owner.isolate);
  });

  it("a worker's requests bind and unbind only its own mailboxes: one of another isolate is refused with EINVAL, its names untouched", async () => {
    await node.spawn(new URL('./fixtures/names-probe.js', import.meta.url), { data: { name: '/names/probe-foreign' } });
    const probe = connect<NamesProbe>('/names/probe-foreign', { timeout: 20_000 });
    const mine = await createMailbox({ name: '/names/foreign/mine' });
    assert.deepStrictEqual(await probe.bindAndUnbindForeign('/names/foreign/taken', mine.ref), { bind: 'EINVAL', unbind: 'EINVAL' });
    assert.equal(await codeOf(lookup('/names/foreign/taken')), 'ENOENT', 'no name bound to it');
    assert.deepStrictEqual(await lookup('/names/foreign/mine'), [mine.ref], 'its own name stays');
    mine.close();
  });

  it("a worker that closes its own named mailbox stops resolving the name at once (its own cache)", async () => {
    await node.spawn(new URL('./fixtures/names-probe.js', import.meta.url), { data: { name: '/names/probe' } });
    const probe = connect<NamesProbe>('/names/probe', { timeout: 20_000 });
    assert.deepStrictEqual(await probe.closeThenResolve('/names/probe/own'), { lookup: 'ENOENT', send: 'ENOENT' });
    assert.equal(await probe.closeThenRebind('/names/probe/again'), 'ok');
  });

  it('only the closed member leaves a fleet', async () => {
    const a = await createMailbox({ fleet: '/names/closing/partial' });
    const { id, ref: b } = await observer.agent.box({ fleet: '/names/closing/partial' });
    assert.deepStrictEqual(new Set(await lookup('/names/closing/partial')), new Set([a.ref, b]));
    a.close();
    assert.deepStrictEqual(await lookup('/names/closing/partial'), [b]);
    assert.deepStrictEqual(await observer.agent.lookup('/names/closing/partial'), [b]);
    await observer.agent.closeBox(id);
    await eventually(() => gone('/names/closing/partial'), 3000, 'the fleet to empty');
    assert.equal(await codeOf(lookup('/names/closing/partial')), 'ENOENT');
  });
});

describe('unbinding on isolate death', () => {
  it('an agent that exits takes its names with it; the rest of the node still works', async () => {
    const doomed = await agentAt('/names/doomed');
    const { ref } = await doomed.agent.box({ name: '/names/doomed/box', fleet: '/names/doomed/fleet' });
    assert.deepStrictEqual(await lookup('/names/doomed/box'), [ref]);
    // A worker caches them too, and must hear they went.
    assert.deepStrictEqual(await observer.agent.lookup('/names/doomed/box'), [ref]);
    assert.equal((await observer.agent.lookup('/names/doomed')).length, 1);

    // The call in flight when the serving isolate dies fails, it does not hang.
    assert.equal(await codeOf(doomed.agent.exit(0)), 'ECONNRESET');

    await eventually(() => gone('/names/doomed/box'), 3000, '/names/doomed/box to go');
    await eventually(() => gone('/names/doomed/fleet'), 3000, '/names/doomed/fleet to go');
    await eventually(() => gone('/names/doomed'), 3000, '/names/doomed to go');
    for (const name of ['/names/doomed/box', '/names/doomed/fleet', '/names/doomed']) {
      assert.equal(await codeOf(lookup(name)), 'ENOENT', name);
      assert.equal(await codeOf(unwrap(observer.agent.lookup(name))), 'ENOENT', `${name} from a worker's cache`);
    }
    const listed = (await node.stats()).names.map((n) => n.name);
    assert.ok(!listed.some((n) => n.startsWith('/names/doomed')), `stats still list ${listed.join(', ')}`);
    assert.equal(await codeOf(send(ref, 'to the dead')), 'ENOENT');

    // The rest of the node keeps working: the name can be bound again, and
    // main and the surviving worker still talk both ways.
    const again = await createMailbox({ name: '/names/doomed/box' });
    await observer.agent.send('/names/doomed/box', 'still here');
    assert.equal((await again.receive({ signal: AbortSignal.timeout(5000) })).data, 'still here');
    assert.equal(await observer.agent.whoami(), observer.isolate);
    again.close();
  });
});

describe('fleets', () => {
  it('lookup returns every member: 3 refs, one per isolate', async () => {
    const refs = await lookup('/names/rr');
    assert.equal(refs.length, 3);
    assert.deepStrictEqual(isolatesOf(refs), members);
    assert.deepStrictEqual(isolatesOf(await observer.agent.lookup('/names/rr')), members);
  });

  it('round robin: 30 calls hit each of the 3 isolates exactly 10 times', async () => {
    const hits: number[] = [];
    for (let i = 0; i < 30; i++) hits.push(await call<number>('/names/rr', 'whoami'));
    assert.deepStrictEqual(spread(hits), members.map((m) => [m, 10]));
  });

  it('round robin holds for calls in flight together, and from a worker', async () => {
    const together = await Promise.all(Array.from({ length: 30 }, () => call<number>('/names/rr', 'whoami')));
    assert.deepStrictEqual(spread(together), members.map((m) => [m, 10]));
    const fromWorker: unknown[] = [];
    for (let i = 0; i < 30; i++) fromWorker.push(await observer.agent.call('/names/rr', 'whoami', []));
    assert.deepStrictEqual(spread(fromWorker), members.map((m) => [m, 10]));
  });

  it('round robin for plain sends to a fleet name', async () => {
    const boxes = await Promise.all([1, 2, 3].map(() => createMailbox({ fleet: '/names/rr-boxes' })));
    for (let i = 0; i < 30; i++) await send('/names/rr-boxes', i);
    assert.deepStrictEqual(
      boxes.map((b) => b.depth),
      [10, 10, 10],
    );
    for (const b of boxes) b.close();
  });

  it('key stickiness: 50 calls with one key all reach the same isolate', async () => {
    const hits = new Set<number>();
    for (let i = 0; i < 50; i++) hits.add(await call<number>('/names/rr', 'whoami', [], { key: 'user-42' }));
    assert.equal(hits.size, 1);
    assert.ok(members.includes([...hits][0]!));
  });

  it('200 distinct keys spread over at least 2 isolates', async () => {
    const hits = new Set<number>();
    for (let i = 0; i < 200; i++) hits.add(await call<number>('/names/rr', 'whoami', [], { key: `user-${i}` }));
    assert.ok(hits.size >= 2, `200 keys all reached ${[...hits].join(', ')}`);
  });

  it('a key reaches the same isolate from a worker as from main (string, number and bigint keys)', async () => {
    const keys = ['user-42', 'a', '', 7, 123456789, 42n, ...Array.from({ length: 20 }, (_, i) => `k${i}`)];
    for (const key of keys) {
      const fromMain = await call<number>('/names/rr', 'whoami', [], { key });
      const fromWorker = await observer.agent.call('/names/rr', 'whoami', [], { key });
      assert.equal(fromWorker, fromMain, `key ${String(key)}`);
    }
  });

  it("a key's isolate is also where a plain send with that key goes", async () => {
    const boxes = await Promise.all([1, 2, 3].map(() => createMailbox({ fleet: '/names/key-boxes' })));
    for (let i = 0; i < 20; i++) await send('/names/key-boxes', i, { key: 'sticky' });
    for (let i = 0; i < 20; i++) await observer.agent.send('/names/key-boxes', i, { key: 'sticky' });
    assert.deepStrictEqual(
      boxes.map((b) => b.depth).sort((a, b) => a - b),
      [0, 0, 40],
    );
    for (const b of boxes) b.close();
  });

  it("a worker's cached lookup sees a member added by main", async () => {
    const first = await createMailbox({ fleet: '/names/grow' });
    assert.deepStrictEqual(await observer.agent.lookup('/names/grow'), [first.ref]);
    const second = await createMailbox({ fleet: '/names/grow' });
    assert.deepStrictEqual(new Set(await observer.agent.lookup('/names/grow')), new Set([first.ref, second.ref]));
    // And a member added by the worker is seen by main's cache.
    assert.equal((await lookup('/names/grow')).length, 2);
    const { id, ref: third } = await observer.agent.box({ fleet: '/names/grow' });
    assert.deepStrictEqual(new Set(await lookup('/names/grow')), new Set([first.ref, second.ref, third]));
    // Removing a member shrinks both views: at once here, shortly in the worker
    // (close() cannot wait for other isolates to confirm).
    first.close();
    assert.deepStrictEqual(new Set(await lookup('/names/grow')), new Set([second.ref, third]));
    const same = (a: Set<unknown>, b: Set<unknown>): boolean => a.size === b.size && [...a].every((x) => [...b].some((y) => JSON.stringify(y) === JSON.stringify(x)));
    await eventually(async () => same(new Set(await observer.agent.lookup('/names/grow')), new Set([second.ref, third])), 2000, 'the worker to see the member go');
    second.close();
    await observer.agent.closeBox(id);
  });

  it('a fleet with a member on the main thread and one in a worker', async () => {
    const local = serve('/names/mixed', { whoami: () => 0 });
    const localRef = await local.ready;
    assert.equal(localRef.address.isolate, 0);
    const remote = await node.spawn(ECHO, { data: { name: '/names/mixed' } });
    const worker = remote.isolates[0]!;
    try {
      assert.deepStrictEqual(isolatesOf(await lookup('/names/mixed')), [0, worker]);
      const fromMain: number[] = [];
      for (let i = 0; i < 10; i++) fromMain.push(await call<number>('/names/mixed', 'whoami'));
      assert.deepStrictEqual(spread(fromMain), [[0, 5], [worker, 5]]);
      const fromWorker: unknown[] = [];
      for (let i = 0; i < 10; i++) fromWorker.push(await observer.agent.call('/names/mixed', 'whoami', []));
      assert.deepStrictEqual(spread(fromWorker), [[0, 5], [worker, 5]]);
      const keyed = await call<number>('/names/mixed', 'whoami', [], { key: 'k' });
      assert.equal(await observer.agent.call('/names/mixed', 'whoami', [], { key: 'k' }), keyed);
    } finally {
      local.close();
      await remote.stop();
    }
    await eventually(() => gone('/names/mixed'), 3000, 'the mixed fleet to empty');
  });
});
