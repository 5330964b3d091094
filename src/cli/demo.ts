/**
 * `fos demo`: boots a node, spawns a fleet, and shows the API at work.
 * The main job until the evaluation (`fos bench`) lands.
 */
import { availableParallelism } from 'node:os';
import { boot, call, callSync, connect, createMailbox, FosError, lookup, send } from '../index.js';
import type { DemoKv } from './demo-service.js';

const SERVICE = new URL('./demo-service.js', import.meta.url);

export async function demo(log: (line: string) => void = console.log): Promise<void> {
  const node = await boot({ name: 'demo' });
  try {
    const count = Math.max(2, availableParallelism() - 1);
    log(`fos demo on node "${node.name}": ${availableParallelism()} cores, Node.js ${process.version}`);
    const svc = await node.spawn(SERVICE, { count });
    log(`spawned /demo/kv as a fleet of ${count} worker isolates: ${svc.isolates.join(', ')}`);
    log(`lookup('/demo/kv') -> ${(await lookup('/demo/kv')).length} members`);

    for (let i = 0; i < count + 1; i++) log(`  call whoami (round robin) -> ${String(await call('/demo/kv', 'whoami'))}`);
    const kv = connect<DemoKv>('/demo/kv', { key: 'user-42' });
    await kv.set('greeting', { text: 'hello', at: new Date(0), tags: new Set(['a', 'b']) });
    log(`  connect<DemoKv>(..., { key: 'user-42' }).get('greeting') -> ${JSON.stringify(await kv.get('greeting'), replacer)} from ${await kv.whoami()}`);
    try {
      await kv.fail('no such thing');
    } catch (e) {
      if (!(e instanceof FosError)) throw e;
      log(`  a handler that throws -> FosError ${e.code} (remote code ${e.remote?.code}): ${e.remote?.message}`);
    }
    try {
      await call('/demo/nothing-here', 'get', []);
    } catch (e) {
      if (!(e instanceof FosError)) throw e;
      log(`  a call to an unbound name -> FosError ${e.code}`);
    }

    const inbox = await createMailbox<string>({ name: '/demo/inbox', capacity: 4 });
    for (let i = 0; i < 4; i++) await send('/demo/inbox', `message ${i}`, { wait: false });
    try {
      await send('/demo/inbox', 'one too many', { wait: false });
    } catch (e) {
      if (!(e instanceof FosError)) throw e;
      log(`  a 5th non-waiting send to a mailbox of capacity 4 -> FosError ${e.code}`);
    }
    const got: string[] = [];
    for (let m = inbox.tryReceive(); m !== undefined; m = inbox.tryReceive()) got.push(m.data);
    log(`  the mailbox holds, in order: ${got.join(', ')}`);

    const n = 2000;
    // Timed after a warm-up: the first few thousand calls run while V8 still
    // compiles the hot paths and are several times slower.
    const perCall = async (what: string, run: () => unknown): Promise<void> => {
      for (let i = 0; i < 3 * n; i++) await run();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await run();
      log(`  ${n} sequential calls, ${what}: ${(((performance.now() - t0) * 1000) / n).toFixed(1)} µs per round trip (mean, after ${3 * n} to warm up)`);
    };
    const viaKernel = connect<DemoKv>('/demo/kv', { key: 'user-42', transport: 'kernel' });
    await perCall('forced onto the kernel transport (postMessage)', () => viaKernel.echo(1));
    await perCall("'auto': the busy pair has moved to shm (a shared-memory ring)", () => kv.echo(1));
    await perCall('callSync, blocking this thread over shm', () => callSync('/demo/kv', 'echo', [1], { key: 'user-42' }));

    const stats = await node.stats();
    for (const iso of stats.isolates) {
      const t = iso.stats?.transports;
      if (t !== undefined) log(`  isolate ${iso.isolate} (${iso.state}): sent ${t.kernel.messagesSent} by kernel and ${t.shm.messagesSent} by shm`);
    }
  } finally {
    await node.shutdown();
    log('node shut down: no worker left running');
  }
}

function replacer(_key: string, v: unknown): unknown {
  return v instanceof Set ? [...v] : v;
}
