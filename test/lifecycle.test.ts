// Spawning and ending: spawn options, modules that fail to load, stop,
// crashes, and a shutdown that leaves nothing behind.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as spawnProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance } from 'node:perf_hooks';
import { boot, call, connect, FosError, lookup, type IsolateReport } from '../src/index.js';
import { AGENT, codeOf, ECHO, eventually } from './helpers/places.js';
import type { Agent } from './fixtures/agent.js';
import type { CtxService } from './fixtures/lifecycle-ctx.js';
import { runtime } from '../src/runtime/current.js';

const node = await boot();
after(() => node.shutdown());

const CTX = new URL('./fixtures/lifecycle-ctx.js', import.meta.url);
const THROWS_AT_LOAD = new URL('./fixtures/throws-at-load.js', import.meta.url);
const FAILS_AFTER_BIND = new URL('./fixtures/lifecycle-fails-after-bind.js', import.meta.url);
const CHILD = new URL('./fixtures/lifecycle-child.js', import.meta.url);

const ALIVE = new Set(['starting', 'running', 'stopping']);

/** The isolates of the node (main thread excluded) running `module`, alive or not. */
async function isolatesOf(module: URL): Promise<IsolateReport[]> {
  return (await node.stats()).isolates.filter((i) => i.module === module.href);
}

async function aliveOf(module: URL): Promise<IsolateReport[]> {
  return (await isolatesOf(module)).filter((i) => ALIVE.has(i.state));
}

/** The FosError `p` rejects with; fails if it resolves or rejects with anything else. */
async function errorOf(p: Promise<unknown>): Promise<FosError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FosError, `expected a FosError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection, got a value');
}

describe('spawn', () => {
  test('count and data: the default export gets ctx.data, ctx.index, ctx.count', async () => {
    const name = '/lc/ctx';
    const payload = { nested: { list: [1, 2, 3] }, when: new Date(1000), big: 12n, tags: new Set(['a']) };
    const svc = await node.spawn(CTX, { count: 3, data: { name, payload } });
    assert.equal(svc.isolates.length, 3);
    assert.equal(new Set(svc.isolates).size, 3, 'three distinct isolates');
    const members = await lookup(name);
    assert.equal(members.length, 3, 'a fleet of three');
    const reports = await Promise.all(members.map((ref) => connect<CtxService>(ref).ctx()));
    reports.sort((a, b) => a.index - b.index);
    assert.deepEqual(
      reports.map((r) => r.index),
      [0, 1, 2],
    );
    for (const r of reports) {
      assert.equal(r.count, 3);
      assert.equal(r.node, node.name);
      assert.ok(svc.isolates.includes(r.isolate), `isolate ${r.isolate} is one of the service's`);
      assert.deepEqual(r.data, { name, payload });
    }
    const alive = await aliveOf(CTX);
    assert.deepEqual(alive.map((i) => i.state), ['running', 'running', 'running']);
    await svc.stop();
    assert.deepEqual(await aliveOf(CTX), []);
  });

  test('count defaults to 1', async () => {
    const svc = await node.spawn(CTX, { data: { name: '/lc/ctx-one' } });
    assert.equal(svc.isolates.length, 1);
    const r = await connect<CtxService>('/lc/ctx-one').ctx();
    assert.equal(r.index, 0);
    assert.equal(r.count, 1);
    await svc.stop();
  });

  test('a module that throws while loading: spawn rejects with its message, nothing left running', async () => {
    const e = await errorOf(node.spawn(THROWS_AT_LOAD, { count: 2 }));
    assert.match(e.message, /this module refuses to load/);
    assert.deepEqual(await aliveOf(THROWS_AT_LOAD), [], 'no isolate of the module is left running');
    const ended = await isolatesOf(THROWS_AT_LOAD);
    assert.equal(ended.length, 2, 'both isolates were started and ended');
  });

  test('a module with no default export: a service if it served as it loaded, else spawn rejects with EINVAL', async () => {
    const atLoad = await node.spawn(new URL('./fixtures/serves-at-load.js', import.meta.url));
    assert.equal(await call('/lc/served-at-load', 'hello', []), 'hello from the top level');
    await atLoad.stop();
    const NO_DEFAULT = new URL('./fixtures/no-default.js', import.meta.url);
    const e = await errorOf(node.spawn(NO_DEFAULT));
    assert.equal(e.code, 'EINVAL');
    assert.match(e.message, /no default export function/);
    assert.deepEqual(await aliveOf(NO_DEFAULT), [], 'no isolate of the module is left running');
  });

  test('a module that binds a name and then fails: spawn rejects, the name goes with it', async () => {
    const name = '/lc/half';
    const e = await errorOf(node.spawn(FAILS_AFTER_BIND, { data: { name } }));
    assert.match(e.message, /started, then changed its mind/);
    assert.deepEqual(await aliveOf(FAILS_AFTER_BIND), []);
    assert.equal(await codeOf(lookup(name)), 'ENOENT');
    assert.ok(!(await node.stats()).names.some((n) => n.name === name), 'not in the name table');
  });

  test('a bad module path rejects, nothing left running', async () => {
    const missing = new URL('./fixtures/lifecycle-no-such-module.js', import.meta.url);
    const e = await errorOf(node.spawn(missing));
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.message, `ENOENT: no module at ${fileURLToPath(missing)}`, "the caller's path, not fos's worker entry");
    assert.equal(await codeOf(node.spawn(fileURLToPath(missing))), 'ENOENT', 'an absolute path');
    // A URL string as the loader normalises it: a localhost host, a '..'.
    const path = fileURLToPath(missing);
    for (const href of [`file://localhost${path}`, `file://${dirname(path)}/x/../lifecycle-no-such-module.js`]) {
      const err = await errorOf(node.spawn(href));
      assert.equal(err.message, `ENOENT: no module at ${path}`, href);
    }
    // A module that is there but imports one that is not: what its import threw.
    const dir = mkdtempSync(join(tmpdir(), 'fos-lc-'));
    try {
      const importer = join(dir, 'imports-missing.mjs');
      writeFileSync(importer, "import './not-there.mjs';\nexport default function start() {}\n");
      const bad = await errorOf(node.spawn(importer));
      assert.equal(bad.code, 'EREMOTE');
      assert.match(bad.message, /not-there\.mjs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(await aliveOf(missing), []);
    // A relative path is refused before any worker starts.
    assert.equal(await codeOf(node.spawn('./fixtures/echo.js')), 'EINVAL');
    assert.equal(await codeOf(node.spawn(42 as unknown as string)), 'EINVAL');
  });

  test('count: 0 (or any non-positive or fractional count) → EINVAL', async () => {
    const before = (await node.stats()).isolates.length;
    for (const count of [0, -1, 1.5, Number.NaN]) {
      assert.equal(await codeOf(node.spawn(ECHO, { count, data: { name: '/lc/never' } })), 'EINVAL', `count ${count}`);
    }
    assert.equal((await node.stats()).isolates.length, before, 'no isolate was started');
  });
});

describe('stop', () => {
  test('svc.stop(): pending calls fail with ECLOSED (not ECONNRESET), the names go', async () => {
    const name = '/lc/stopping';
    const svc = await node.spawn(ECHO, { count: 2, data: { name } });
    // 70 slow calls over 2 members: 64 run at once per member at most, so
    // some run in their handler and, with one member, others would queue.
    const pending = Array.from({ length: 70 }, () => call(name, 'slow', [10_000]));
    const oneMember = Array.from({ length: 70 }, () => call(name, 'slow', [10_000], { key: 'one' }));
    const outcomes = Promise.all([...pending, ...oneMember].map((p) => codeOf(p)));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await svc.stop();
    const codes = await outcomes;
    assert.ok(performance.now() - t0 < 5000, 'stop ends the calls, not their handlers');
    const tally: Record<string, number> = {};
    for (const c of codes) tally[c] = (tally[c] ?? 0) + 1;
    assert.deepEqual(tally, { ECLOSED: 140 });
    assert.equal(await codeOf(lookup(name)), 'ENOENT');
    assert.equal(await codeOf(call(name, 'echo', [1])), 'ENOENT');
    const ended = (await node.stats()).isolates.filter((i) => svc.isolates.includes(i.isolate));
    assert.deepEqual(
      ended.map((i) => i.state),
      ['exited', 'exited'],
    );
  });

  test("isolates that ended keep no shared memory, even while their stopped services are held: stats remember them, not their control blocks (a megabyte each)", async () => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const sharedMiB = (): number => {
      gc();
      gc();
      return process.memoryUsage().arrayBuffers / 2 ** 20;
    };
    const before = sharedMiB();
    const n = 16;
    const kept: unknown[] = []; // a caller may hold on to its stopped services
    for (let i = 0; i < n; i++) {
      const s = await node.spawn(ECHO, { data: { name: `/lc/ended/${i}` } });
      assert.equal(await call(`/lc/ended/${i}`, 'echo', [i]), i);
      await s.stop();
      kept.push(s);
    }
    const grown = sharedMiB() - before;
    assert.equal(kept.length, n);
    assert.ok(grown < n / 2, `${n} isolates started and stopped left ${grown.toFixed(1)} MiB of buffers behind (1 MiB each was kept)`);
    const ended = (await node.stats()).isolates.filter((i) => i.state === 'exited');
    assert.ok(ended.length >= n, 'stats still report them');
  });

  test('stop twice is harmless', async () => {
    const svc = await node.spawn(ECHO, { data: { name: '/lc/stop-twice' } });
    await svc.stop();
    await svc.stop();
    assert.equal(await codeOf(lookup('/lc/stop-twice')), 'ENOENT');
  });
});

describe('crash', () => {
  test('a crashed worker is reported with its error, its bindings go, the node keeps working', async () => {
    const echoSvc = await node.spawn(ECHO, { data: { name: '/lc/survivor' } });
    const agentName = '/lc/crashy';
    const svc = await node.spawn(AGENT, { data: { name: agentName } });
    const [isolate] = svc.isolates;
    const agent = connect<Agent>(agentName);
    const { id } = await agent.box({ name: '/lc/crashy-box' });
    const events = node.status();
    const crashEvent = (async () => {
      for await (const ev of events) if (ev.type === 'isolate-crashed') return ev;
      return undefined;
    })();
    // A call in flight when the worker dies fails with ECONNRESET.
    const waiting = agent.take(id, 1, 30_000);
    await agent.crashSoon('kaboom: the agent fell over');
    assert.equal(await codeOf(waiting), 'ECONNRESET');
    const ev = await Promise.race([crashEvent, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    await events.return?.();
    assert.equal(ev?.isolate, isolate, 'the status feed says which isolate crashed');
    assert.equal(ev?.module, AGENT.href);
    assert.equal(ev?.exitCode, 1);
    assert.match(ev?.error ?? '', /kaboom: the agent fell over\n\s+at /, 'with its stack');

    await eventually(async () => (await node.stats()).isolates.some((i) => i.isolate === isolate && i.state === 'crashed'), 5000, 'the crash to be reported');
    const report = (await node.stats()).isolates.find((i) => i.isolate === isolate);
    assert.equal(report?.state, 'crashed');
    assert.match(report?.error ?? '', /kaboom: the agent fell over/);
    assert.equal(report?.stats, undefined, 'an ended isolate has no live counters');

    assert.equal(await codeOf(lookup(agentName)), 'ENOENT');
    assert.equal(await codeOf(lookup('/lc/crashy-box')), 'ENOENT');
    const names = (await node.stats()).names.map((n) => n.name);
    assert.ok(!names.includes(agentName) && !names.includes('/lc/crashy-box'), `names left: ${names.join(', ')}`);

    // The rest of the node keeps working: existing services, and new ones.
    assert.equal(await call('/lc/survivor', 'echo', ['still here']), 'still here');
    const again = await node.spawn(AGENT, { data: { name: agentName } });
    assert.equal(await connect<Agent>(agentName).call('/lc/survivor', 'echo', ['agent to echo'], {}), 'agent to echo');
    // Stopping a service whose isolate already crashed is harmless.
    const later = node.status();
    await svc.stop();
    await again.stop();
    await echoSvc.stop();
    // A stopped isolate did not crash: no event for it, in what the feed says for 300 ms after the stops.
    const after: unknown[] = [];
    const collected = (async () => {
      for await (const ev of later) after.push(ev);
    })();
    await new Promise((r) => setTimeout(r, 300));
    await later.return?.();
    await collected;
    assert.ok(!after.some((ev) => (ev as { type: string }).type === 'isolate-crashed'), `after stops: ${JSON.stringify(after)}`);
  });
});

describe('a worker cut off from the main thread', () => {
  const SYNC_CALLER = new URL('./fixtures/sync-caller.js', import.meta.url);
  type Breaker = { breakLinkAfter(peer: number, ms: number): Promise<never> };

  for (const side of ['the worker', 'the main thread'] as const) {
    test(`its link given up by ${side} (a frame it could not deserialize): it ends, is reported crashed, and its names go`, async () => {
      const name = `/lc/cut-off-by-${side === 'the worker' ? 'worker' : 'main'}`;
      const svc = await node.spawn(SYNC_CALLER, { data: { name } });
      const [isolate] = svc.isolates;
      if (side === 'the worker') {
        void connect<Breaker>(name).breakLinkAfter(0, 20).catch(() => {});
      } else {
        await call(name, 'whoami', []); // the link carries traffic first
        const link = runtime().link(isolate!) as unknown as { endpoint: { emit: (event: string, e: Error) => boolean } };
        link.endpoint.emit('messageerror', new Error('cannot rebuild an object (injected by the test)'));
      }
      await eventually(async () => (await node.stats()).isolates.some((i) => i.isolate === isolate && i.state === 'crashed'), 5000, 'the isolate to end');
      await eventually(async () => (await codeOf(lookup(name))) === 'ENOENT', 5000, 'its name to go');
      if (side === 'the main thread') {
        const report = (await node.stats()).isolates.find((i) => i.isolate === isolate);
        assert.match(report?.error ?? '', /link to the main thread was given up/);
      }
      await svc.stop(); // harmless: the isolate is gone
      // The node goes on: a new worker starts and answers.
      const again = await node.spawn(ECHO, { data: { name: `${name}/again` } });
      assert.equal(await call(`${name}/again`, 'echo', ['still working']), 'still working');
      await again.stop();
    });
  }
});

describe('shutdown', () => {
  test('node.shutdown() leaves no worker and no open handle: the process exits on its own', async () => {
    const child = spawnProcess(process.execPath, [fileURLToPath(CHILD)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    let timer: NodeJS.Timeout | undefined;
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>((resolve) => {
      let killed = false;
      timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, 15_000);
      child.on('exit', (code, signal) => resolve({ code, signal, killed }));
    });
    clearTimeout(timer);
    assert.equal(ended.killed, false, `the child did not exit within 15 s after shutdown; stdout: ${out} stderr: ${err}`);
    assert.equal(ended.code, 0, `exit code ${ended.code}, signal ${ended.signal}; stderr: ${err}`);
    const lines = out.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
    assert.equal(result.callAfterSays, 'ECLOSED: node lifecycle-child was shut down: boot() again to use fos in this isolate');
    assert.equal(result.echoed, 'hi');
    assert.equal(typeof result.agentIsolate, 'number');
    assert.equal(result.viaAgent, 'via agent');
    assert.deepEqual(
      {
        mailboxClosed: result.mailboxClosed,
        pendingReceive: result.pendingReceive,
        pendingCall: result.pendingCall,
        runningAfter: result.runningAfter,
        runningWhenSecondEnded: result.runningWhenSecondEnded,
        sendAfter: result.sendAfter,
        callAfter: result.callAfter,
        spawnAfter: result.spawnAfter,
        mailboxAfter: result.mailboxAfter,
        shutdownAgain: result.shutdownAgain,
      },
      {
        mailboxClosed: true,
        pendingReceive: 'ECLOSED',
        pendingCall: 'ECLOSED',
        runningAfter: 0,
        runningWhenSecondEnded: 0,
        sendAfter: 'ECLOSED',
        callAfter: 'ECLOSED',
        spawnAfter: 'ECLOSED',
        mailboxAfter: 'ECLOSED',
        shutdownAgain: 'resolved',
      },
    );
  });
});
