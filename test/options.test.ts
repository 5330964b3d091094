// The options that set things up (boot, spawn, createMailbox, serve): a key
// the option type does not have fails with EINVAL naming it, as a caller
// without TypeScript may misspell one, and nothing is set up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, createMailbox, FosError, lookup, serve, type FosNode } from '../src/index.js';
import { codeOf, ECHO } from './helpers/places.js';

/** The error `f` threw or its promise rejected with, which must be an EINVAL naming `option` in `what`. */
async function refused(f: () => unknown, what: string, option: string): Promise<void> {
  let e: unknown;
  try {
    await f();
  } catch (err) {
    e = err;
  }
  assert.ok(e instanceof FosError, `${what} with ${option}: expected a FosError, got ${String(e)}`);
  assert.equal(e.code, 'EINVAL', e.message);
  assert.ok(e.message.includes(`${what} has no option "${option}"`), e.message);
}

describe('boot', () => {
  test('an unknown key at any level fails before anything starts', async () => {
    const cases: [opts: object, what: string, option: string][] = [
      [{ lisen: '127.0.0.1:0' }, 'boot()', 'lisen'],
      [{ shm: { treshold: 2 } }, 'shm', 'treshold'],
      [{ shm: { pump: { spin: 5 } } }, 'shm.pump', 'spin'],
      [{ tcp: { heartbeat: 100 } }, 'tcp', 'heartbeat'],
      [{ tcp: { backoff: { minimum: 5 } } }, 'tcp.backoff', 'minimum'],
      [{ tls: { key: 'k', cert: 'c', ca: 'a', passphrase: 'p' } }, 'tls', 'passphrase'],
    ];
    // A node booted by mistake is shut down, so that one failure does not fail every later boot.
    for (const [opts, what, option] of cases) await refused(() => boot(opts as never).then((n) => n.shutdown()), what, option);
    // None of them left a runtime behind: a good boot still works.
    const node = await boot({ shm: { threshold: 2, pump: { spinMicros: 10 } }, tcp: { heartbeatMs: 500, backoff: { min: 10 } } });
    await node.shutdown();
  });

  test('an unknown key is EINVAL in a process that has booted too, and a second boot() with good options EEXIST', async () => {
    const node = await boot();
    try {
      await refused(() => boot({ shm: { treshold: 2 } } as never), 'shm', 'treshold');
      assert.equal(await codeOf(boot()), 'EEXIST');
    } finally {
      await node.shutdown();
    }
  });

  test('a value of the wrong type is named as it was given: a string quoted', async () => {
    const booted = boot({ shm: { threshold: '8' } } as never);
    booted.then((n) => n.shutdown(), () => {});
    await booted.then(
      () => assert.fail('booted'),
      (e: unknown) => assert.match((e as Error).message, /^EINVAL: shm\.threshold is .*, got "8"$/),
    );
  });

  test('an advertised address other nodes could not dial fails with EINVAL', async () => {
    for (const advertise of ['nohost', 'x:y:z', '0.0.0.0:7070', '0:7070', ':7070', '[::]:7070', '[::0]:7070', '10.0.0.1:0', 7070]) {
      const booted = boot({ listen: '127.0.0.1:0', advertise } as never);
      booted.then((n) => n.shutdown(), () => {});
      assert.equal(await codeOf(booted), 'EINVAL', String(advertise));
    }
  });

  test('options that are not an object fail with EINVAL', async () => {
    for (const opts of [{ shm: 5 }, { shm: 'fast' }, { shm: [1] }, { shm: null }, { tcp: null }, { shm: { pump: 1 } }]) {
      // A node booted by mistake is shut down, so that the next case can boot.
      const booted = boot(opts as never);
      booted.then((n) => n.shutdown(), () => {});
      assert.equal(await codeOf(booted), 'EINVAL', JSON.stringify(opts));
    }
  });
});

describe('spawn, createMailbox, serve', () => {
  let node: FosNode;
  before(async () => {
    node = await boot();
  });
  after(() => node.shutdown());

  test('spawn: an unknown key fails and starts no isolate', async () => {
    await refused(() => node.spawn(ECHO, { cout: 2 } as never), 'spawn()', 'cout');
    assert.equal((await node.stats()).isolates.filter((i) => i.module === ECHO.href).length, 0);
  });

  test('createMailbox: an unknown key fails and binds no name', async () => {
    await refused(() => createMailbox({ name: '/opt/box', capcity: 8 } as never), 'createMailbox()', 'capcity');
    assert.equal(await codeOf(lookup('/opt/box')), 'ENOENT');
    const mb = await createMailbox({ name: '/opt/box', capacity: 8 });
    assert.equal(mb.capacity, 8);
    mb.close();
  });

  test('serve: an unknown key fails and serves nothing', async () => {
    await refused(() => serve('/opt/svc', { ping: () => 1 }, { concurency: 4 } as never), 'serve()', 'concurency');
    assert.equal(await codeOf(lookup('/opt/svc')), 'ENOENT');
  });
});

describe('values of the wrong type', () => {
  let node: FosNode;
  before(async () => {
    node = await boot();
  });
  after(() => node.shutdown());

  test('are named in the error as they were given: a string quoted, so that "3" is not read as 3', async () => {
    const messageOf = async (f: () => unknown): Promise<string> => {
      try {
        await f();
      } catch (e) {
        assert.ok(e instanceof FosError && e.code === 'EINVAL', String(e));
        return e.message;
      }
      assert.fail('accepted');
    };
    assert.match(await messageOf(() => createMailbox({ capacity: '3' } as never)), /capacity is a positive integer, got "3"$/);
    assert.match(await messageOf(() => createMailbox({ capacity: 2.5 })), /capacity is a positive integer, got 2\.5$/);
    assert.match(await messageOf(() => node.spawn(ECHO, { count: '2' } as never)), /count is a positive integer, got "2"$/);
    assert.match(await messageOf(() => serve('/opt/typed', { ping: () => 1 }, { concurrency: {} } as never).ready), /concurrency is a positive integer, got an object$/);
  });
});
