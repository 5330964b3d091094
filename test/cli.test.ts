// The cluster commands as the README uses them: two `fos node` processes,
// each serving a module, call each other's services by name; `fos ls`,
// `fos ping` and `fos stats` ask the cluster; a wrong secret is refused;
// a bad secret file or an address where nothing listens fails at once.
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { eventually } from './helpers/places.js';
import { NameTakenWatch } from '../src/cli/name-taken.js';
import { resultJson } from '../src/cli/json-result.js';
import { Restarts } from '../src/cli/restarts.js';
import { clientKey, clientName, isClient, logKey, mentions, RepeatFilter, repeatKey, speaksOf, statusLine } from '../src/cli/node-output.js';
import type { ErrorCode, StatusEvent } from '../src/index.js';

const FOS = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const KV = fileURLToPath(new URL('../examples/cluster/kv.js', import.meta.url));
const GREETER = fileURLToPath(new URL('../examples/cluster/greeter.js', import.meta.url));
const ECHO = fileURLToPath(new URL('./fixtures/echo.js', import.meta.url));
const THROWS_AT_LOAD = fileURLToPath(new URL('./fixtures/throws-at-load.js', import.meta.url));
const CRASH_WHILE_STARTING = fileURLToPath(new URL('./fixtures/crash-while-starting.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'fos-cli-'));
const secretFile = join(dir, 'secret');
writeFileSync(secretFile, 'a cluster secret of the test, long enough\n', { mode: 0o600 });
const nodes: ChildProcess[] = [];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The pid of the fos process (its client node is named cli-PID-...). */
  readonly pid?: number | undefined;
}

function fos(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [FOS, ...args], { env: { ...process.env, FOS_SECRET: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr, pid: child.pid });
    });
  });
}

/** Starts `fos node`; resolves with its address once it says it listens. */
function startFosNode(args: string[]): Promise<{ proc: ChildProcess; address: string; stderr: () => string }> {
  const proc = spawn(process.execPath, [FOS, 'node', '--listen', '127.0.0.1:0', '--secret-file', secretFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  nodes.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fos node did not start: ${err}`)), 20_000);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ proc, address: m[1]!, stderr: () => err });
      }
    });
    proc.once('exit', (code) => reject(new Error(`fos node exited with ${code}: ${err}`)));
  });
}

let n1: string;
let n2: string;

before(async () => {
  n1 = (await startFosNode(['--name', 'one', '--service', `/app/kv=${KV}`, '--service', `/app/echo=${ECHO}`])).address;
  n2 = (await startFosNode(['--name', 'two', '--peers', n1, '--service', `/app/greeter=${GREETER}:2`])).address;
});

after(async () => {
  for (const p of nodes) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('fos node, ls, ping, stats', () => {
  it('fos ls, through either node, lists both nodes\' services with their members and nodes', async () => {
    for (const via of [n1, n2]) {
      const r = await fos(['ls', '--node', via, '--secret-file', secretFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\/app\/kv\s+fleet\s+one\s+1\/\d+$/m);
      assert.match(r.stdout, /^\/app\/greeter\s+fleet\s+two\s+\d+\/\d+$/m);
      assert.equal(r.stdout.split('\n').filter((l) => /^\s+two\s+\d+\/\d+$/.test(l)).length, 1, 'the greeter fleet has a second member');
      assert.match(r.stdout, /^\/sys\/nodes\/one\s/m);
      assert.match(r.stdout, /^\/sys\/nodes\/two\s/m);
    }
  });

  it("the services call each other by name across the nodes (the secret taken from FOS_SECRET)", async () => {
    // A client joins through node one; the greeter (node two) calls the kv (node one).
    const script = `
      import { boot, call } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
      const node = await boot({ name: 'client', peers: [${JSON.stringify(n1)}], secret: process.env.FOS_SECRET });
      for await (const ev of node.status()) if (ev.type === 'peer-up' && ev.node === 'two') break;
      await call('/app/greeter', 'remember', ['me', 'Ada']);
      console.log(await call('/app/greeter', 'greet', ['me']));
      console.log(await call('/app/kv', 'get', ['me']));
      await node.shutdown();`;
    const r = await new Promise<Run>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, FOS_SECRET: 'a cluster secret of the test, long enough' }, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : 1, stdout, stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepStrictEqual(r.stdout.trim().split('\n'), ['hello, Ada', 'Ada']);
  });

  it('fos call makes one call by name and prints its result as JSON', async () => {
    const r = await fos(['call', '/app/greeter', 'greet', '["me"]', '--node', n2, '--secret-file', secretFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '"hello, Ada"', 'what the earlier client remembered, through the greeter on one node and the kv on the other');
    const none = await fos(['call', '/app/kv', 'get', '["nobody"]', '--node', n1, '--secret-file', secretFile]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, 'null\n', 'a method that returns nothing prints JSON');
    const threw = await fos(['call', '/app/echo', 'fail', '["it broke", "EBROKE"]', '--node', n1, '--secret-file', secretFile]);
    assert.equal(threw.code, 1);
    assert.match(threw.stderr, /^fos: EREMOTE: .*it broke.* \(the handler threw Error with code EBROKE\)$/m);
    const bad = await fos(['call', '/app/greeter', 'greet', 'not json', '--node', n2, '--secret-file', secretFile]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^fos: EINVAL: the arguments are a JSON array/m);
    const slow = await fos(['call', '/app/echo', 'slow', '[10000]', '--timeout', '3000', '--node', n1, '--secret-file', secretFile]);
    assert.equal(slow.code, 1);
    assert.match(slow.stderr, /^fos: ETIMEDOUT: no answer within the --timeout of 3000 ms \(joining the cluster took \d+ ms of it\)$/m);
  });

  it('a client without a secret is told so; an unknown option prints the usage', async () => {
    const r = await fos(['ls', '--node', n1]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /this client has no secret: set FOS_SECRET or give --secret-file/);
    const u = await fos(['node', '--listen', '127.0.0.1:0', '--secret', 'on the command line']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /^fos: Unknown option '--secret'/m);
    assert.match(u.stderr, /^usage: fos node\n/m);
  });

  it('exit codes: 2 and the command\'s usage for a command line that cannot run, 1 for a command that ran and failed; --help prints a command\'s usage', async () => {
    const help = await fos(['call', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: fos call\n[^]*fos call NAME METHOD/);
    assert.doesNotMatch(help.stdout, /fos ping/, "only the command's own usage");
    assert.equal((await fos(['node', '-h'])).code, 0);
    const helpPing = await fos(['help', 'ping']);
    assert.equal(helpPing.code, 0);
    assert.match(helpPing.stdout, /^usage: fos ping\n/);
    const helpHelp = await fos(['help', '--help']);
    assert.equal(helpHelp.code, 0);
    assert.match(helpHelp.stdout, /^usage: fos help\n/);
    const unknown = await fos(['help', 'pnig']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^fos: unknown command "pnig"\n/);
    const version = await fos(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^fos \d+\.\d+\.\d+\n$/);
    const noName = await fos(['ping', '--node', n1, '--secret-file', secretFile]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /^fos: EINVAL: fos ping needs a NAME\nusage: fos ping\n/);
    const client = ['--node', n1, '--secret-file', secretFile];
    for (const args of [
      ['ping', '/app/kv', '--count', 'many', ...client],
      ['call', '/app/kv', ...client],
      ['call', '/app/kv', 'get', '{"not": "an array"}', ...client],
      ['call', '/app/kv', 'get', '[]', '--timeout', '0', ...client],
      ['call', '/app/kv', 'get', '[]', '--timeout', '99999999999', ...client],
      ['ls', '--timeout', 'soon', ...client],
      ['call', 'not-a-name', 'get', ...client],
      ['call', '/app/kv', 'get', '[]', 'extra', ...client],
      ['ping', '/app/kv', '/app/echo', ...client],
      ['stats', '--node', 'nohost', '--secret-file', secretFile],
      ['node'],
      ['node', '--listen', '127.0.0.1:0', '--service', 'no-equals-sign'],
      ['node', '--listen', '127.0.0.1:0', '--service', `/app/none=${ECHO}:0`],
      ['node', '--listen', '127.0.0.1:0', '--service', `app=${ECHO}`],
      ['node', '--listen', '127.0.0.1:0', '--peers', 'x'],
      ['node', '--listen', '127.0.0.1:0', '--advertise', 'nohost'],
      ['node', '--listen', '127.0.0.1:0', '--advertise', '0.0.0.0:7070'],
      ['node', '--listen', '127.0.0.1:0', '--name', 'two words'],
      ['demo', '--bogus'],
      ['version', 'extra'],
      ['help', 'ls', 'extra'],
      ['node', '--listen', '127.0.0.1:0', '--service', `/app/none=${ECHO}:-1`],
      ['node', '--listen', '127.0.0.1:0', '--service', `/app/none=${ECHO}:1.5`],
    ]) {
      const r = await fos(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^fos: EINVAL: [^]*\\nusage: fos ${args[0]}\\n`), args.join(' '));
    }
    const none = await fos([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage: fos <command>/);
    const failed = await fos(['call', '/app/none', 'get', '[]', '--node', n1, '--secret-file', secretFile]);
    assert.equal(failed.code, 1, 'a call that ran and failed');
    assert.match(failed.stderr, /^fos: ENOENT/m);
    assert.doesNotMatch(failed.stderr, /usage:/);
  });

  it('fos ping measures round trips to a served name on the other node', async () => {
    const r = await fos(['ping', '/app/kv', '--count', '5', '--node', n2], { FOS_SECRET: 'a cluster secret of the test, long enough' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => /^\/app\/kv \(one\/1\): round trip \d+ [\d.]+ (µs|ms)$/.test(l)).length, 5, r.stdout);
    assert.match(r.stdout, /^5 round trips: min [\d.]+ (µs|ms), median [\d.]+ (µs|ms), max [\d.]+ (µs|ms)$/m);
    // The greeter's two members on two, one after the other.
    const fleet = await fos(['ping', '/app/greeter', '--count', '4', '--node', n2, '--secret-file', secretFile]);
    const members = fleet.stdout.split('\n').flatMap((l) => /^\/app\/greeter \((two\/\d+)\): round trip/.exec(l)?.[1] ?? []);
    assert.equal(members.length, 4, fleet.stdout);
    assert.equal(new Set(members).size, 2, `both members answered: ${members.join(', ')}`);
    assert.notEqual(members[0], members[1]);
  });

  it('fos ping says a round trip that fails and goes on, the summary counting it (exit code 1); SIGINT ends it early with the summary', async () => {
    const t0 = performance.now();
    const none = await fos(['ping', '/app/nobody', '--count', '2', '--node', n1, '--secret-file', secretFile]);
    assert.equal(none.code, 1, none.stderr);
    assert.equal(none.stdout.split('\n').filter((l) => /^\/app\/nobody: round trip [12] failed: ENOENT: /.test(l)).length, 2, none.stdout);
    assert.match(none.stdout, /^2 round trips: none answered; 2 failed$/m);
    assert.ok(performance.now() - t0 > 1000, 'a name with no member is tried again after a pause, not in a spin');
    const proc = spawn(process.execPath, [FOS, 'ping', '/app/kv', '--count', '1000000', '--node', n1, '--secret-file', secretFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    nodes.push(proc);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => /round trip 3 /.test(out), 10_000, 'three round trips');
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    proc.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /^\d+ round trips \(of 1000000: interrupted\): min [\d.]+ (µs|ms), median .*$/m);
    // A round trip that waits (to a service whose thread stopped, blocked for good once it served) is cut short at once, and not counted as failed.
    const deaf = join(dir, 'deaf.mjs');
    writeFileSync(
      deaf,
      `import { serve } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};\n` +
        `export default async function start(ctx) {\n  await serve(ctx.data.name, { hi: () => 'hi' }).ready;\n` +
        `  setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 50);\n}\n`,
    );
    const quiet = await startFosNode(['--name', 'quiet', '--service', `/app/deaf=${deaf}`]);
    try {
      const waiting = spawn(process.execPath, [FOS, 'ping', '/app/deaf', '--count', '3', '--timeout', '20000', '--node', quiet.address, '--secret-file', secretFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      nodes.push(waiting);
      let said = '';
      waiting.stdout!.on('data', (d: Buffer) => (said += d.toString()));
      // Joined once the node counts its client among its peers (a SIGINT before would end the command with 130).
      const joined = async (): Promise<boolean> => {
        const r = await fos(['stats', '--json', '--node', quiet.address, '--secret-file', secretFile]);
        return (JSON.parse(r.stdout) as { peers: { node: string }[] }).peers.some((p) => p.node.startsWith(`cli-${waiting.pid}-`));
      };
      await eventually(joined, 10_000, 'the ping to have joined');
      const ended = new Promise<number | null>((resolve) => waiting.once('exit', (c) => resolve(c)));
      const sigint = performance.now();
      waiting.kill('SIGINT');
      assert.equal(await ended, 0, said);
      assert.ok(performance.now() - sigint < 1000, `ended ${Math.round(performance.now() - sigint)} ms after SIGINT`);
      assert.match(said, /^0 round trips \(of 3: interrupted\): none answered$/m);
    } finally {
      quiet.proc.kill('SIGKILL');
    }
  });

  it("fos stats prints a node's peers and isolates", async () => {
    const r = await fos(['stats', '--node', n1, '--secret-file', secretFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const stats = JSON.parse(r.stdout) as { node: string; peers: { node: string; connected: boolean }[]; isolates: { module: string }[] };
    assert.equal(stats.node, 'one');
    assert.ok(stats.peers.some((p) => p.node === 'two' && p.connected));
    assert.equal(stats.isolates.filter((i) => i.module.endsWith('serve-module.js')).length, 2, 'the kv and the echo service');
    const text = await fos(['stats', '--node', n1, '--secret-file', secretFile]);
    assert.match(text.stdout, /^node one$/m);
    assert.match(text.stdout, /^two\s+true\s+\d+$/m);
    // The two isolates that run serve-module.js are told apart by the names they serve.
    assert.match(text.stdout, /^\d+\s+serve-module\.js\s+\/app\/kv\s+running\s/m);
    assert.match(text.stdout, /^\d+\s+serve-module\.js\s+\/app\/echo\s+running\s/m);
    assert.doesNotMatch(text.stdout, new RegExp(`^cli-${text.pid}-`, 'm'), "the command's own client node is not listed among the peers");
  });

  it('a wrong secret is refused: the command fails with the reason, the nodes keep serving', async () => {
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'not the secret of this cluster at all\n', { mode: 0o600 });
    const r = await fos(['ls', '--node', n1, '--secret-file', wrong]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fos: EACCES: .* refused this client \(this client has another secret than the cluster\): .*authentication failed/m);
    assert.doesNotMatch(r.stderr, /: EACCES: authentication/, 'its code said once');
    const ok = await fos(['ls', '--node', n1, '--secret-file', secretFile]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('a secret file others may read works, with a warning to chmod it; one only its owner reads gives none', async () => {
    const shared = join(dir, 'shared-secret');
    writeFileSync(shared, 'a cluster secret of the test, long enough\n', { mode: 0o644 });
    chmodSync(shared, 0o644); // whatever the umask
    const r = await fos(['ls', '--node', n1, '--secret-file', shared]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^fos: warning: the secret file \S+shared-secret can be read by others \(mode 644\): chmod 600 /m);
    const own = await fos(['ls', '--node', n1, '--secret-file', secretFile]);
    assert.equal(own.code, 0, own.stderr);
    assert.doesNotMatch(own.stderr, /warning: the secret file/);
  });

  it('a secret file that cannot be read, an address where no node listens, and a server that drops every connection: each fails at once with the reason', async () => {
    const missing = await fos(['ls', '--node', n1, '--secret-file', join(dir, 'no-such-file')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^fos: EINVAL: cannot read the secret file .*no-such-file: ENOENT/m);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');
    const t0 = performance.now();
    const nobody = await fos(['ls', '--node', '127.0.0.1:9', '--secret-file', secretFile]); // discard: nothing listens there
    const ms = performance.now() - t0;
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /^fos: ENOENT: no node listens at 127\.0\.0\.1:9: .*ECONNREFUSED/m);
    assert.ok(ms < 8000, `it gave up after a few refusals (${ms.toFixed(0)} ms), not the 10 s join timeout`);
    // A server that takes each connection and drops it at once, closing or resetting it, says nothing either.
    for (const drop of [(s: Socket) => s.end(), (s: Socket) => s.resetAndDestroy()]) {
      const dropper = createServer(drop);
      await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
      try {
        const t1 = performance.now();
        const r = await fos(['ls', '--node', `127.0.0.1:${(dropper.address() as AddressInfo).port}`, '--secret-file', secretFile]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^fos: ECONNRESET: what listens at 127\.0\.0\.1:\d+ drops the connection before the fos handshake .*: (connection closed|socket error: \w+ ECONNRESET.*) \(5 attempts\)$/m);
        assert.ok(performance.now() - t1 < 8000, 'after a few attempts, not the 10 s join timeout');
      } finally {
        dropper.close();
      }
    }
  });

  it('a server that is not a fos node, one that says nothing, and a cluster node that hangs: the client fails at once, at the handshake timeout, or warns within 2 s and lists the rest, its call within its --timeout', async () => {
    const banner = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    await new Promise<void>((resolve) => banner.listen(0, '127.0.0.1', resolve));
    try {
      const t0 = performance.now();
      const r = await fos(['stats', '--node', `127.0.0.1:${(banner.address() as AddressInfo).port}`, '--secret-file', secretFile]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^fos: EINVAL: what listens at 127\.0\.0\.1:\d+ does not speak this version of the fos protocol: .*malformed stream/m);
      assert.ok(performance.now() - t0 < 8000, 'at once, not after the 10 s join timeout');
    } finally {
      banner.close();
    }
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket)); // takes connections, says nothing
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const t0 = performance.now();
      const r = await fos(['ls', '--node', `127.0.0.1:${(silent.address() as AddressInfo).port}`, '--secret-file', secretFile]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^fos: ETIMEDOUT: what listens at 127\.0\.0\.1:\d+ took the connection but did not answer the fos handshake .*: handshake not finished within 5000 ms$/m);
      assert.ok(performance.now() - t0 < 8000, 'at the first handshake timeout (5 s), not after the 10 s join timeout');
      // Once it has said why, the command ends: it does not wait out the second its closed socket is left to hang up.
      let startup = Infinity;
      for (let i = 0; i < 2; i++) {
        const s0 = performance.now();
        await fos(['help']);
        startup = Math.min(startup, performance.now() - s0);
      }
      const c0 = performance.now();
      const c = await fos(['call', '/app/echo', 'echo', '--timeout', '2000', '--node', `127.0.0.1:${(silent.address() as AddressInfo).port}`, '--secret-file', secretFile]);
      const took = performance.now() - c0;
      assert.match(c.stderr, /^fos: ETIMEDOUT: could not join the cluster through 127\.0\.0\.1:\d+ within 2000 ms/m);
      // Waiting out that second would take 3000 ms and a process start at least.
      assert.ok(took < startup + 2850, `fos call --timeout 2000 took ${took.toFixed(0)} ms, a fos process ${startup.toFixed(0)} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
    const three = await startFosNode(['--name', 'three', '--peers', n1, '--service', `/app/on-three=${ECHO}`]);
    await eventually(async () => /^\/sys\/nodes\/three\s/m.test((await fos(['ls', '--node', n1, '--secret-file', secretFile])).stdout), 10_000, 'three to join');
    three.proc.kill('SIGSTOP');
    try {
      const t0 = performance.now();
      const r = await fos(['ls', '--node', n1, '--secret-file', secretFile]);
      const ms = performance.now() - t0;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^fos: warning: not reached within 2000 ms: three \(what one says of them may be stale/m);
      assert.match(r.stdout, /^\/app\/kv\s/m, 'the rest of the cluster is listed');
      assert.match(r.stdout, /^\/sys\/nodes\/three\s+fleet\s+three \(not reached\)\s/m, `three's names, as one still holds them, are marked:\n${r.stdout}`);
      assert.match(r.stdout, /^\/sys\/nodes\/one\s+fleet\s+one\s/m);
      assert.ok(ms < 8000, `within the 2 s wait for the others and slack (${ms.toFixed(0)} ms)`);
      // fos call's --timeout bounds the whole command, joining included: the
      // wait for three takes half of it at most, and the call the rest.
      // (What starting a fos process costs is measured beside it.)
      const s0 = performance.now();
      await fos(['help']);
      const startup = performance.now() - s0;
      const c0 = performance.now();
      const c = await fos(['call', '/app/echo', 'echo', '["hi"]', '--timeout', '1000', '--node', n1, '--secret-file', secretFile]);
      const took = performance.now() - c0;
      assert.equal(c.code, 0, c.stderr);
      assert.equal(c.stdout, '"hi"\n');
      assert.match(c.stderr, /^fos: warning: not reached within \d+ ms: three /m);
      assert.ok(took < startup + 1700, `fos call --timeout 1000 took ${took.toFixed(0)} ms, a fos process ${startup.toFixed(0)} ms: not the 2 s wait for three on top`);
      // A name whose members all live on the node not reached: not "no such name".
      const onThree = await fos(['call', '/app/on-three', 'echo', '["x"]', '--node', n1, '--secret-file', secretFile]);
      assert.equal(onThree.code, 1);
      assert.match(onThree.stderr, /^fos: ECONNRESET: \/app\/on-three lives on three, which this client did not reach /m);
    } finally {
      three.proc.kill('SIGKILL');
    }
  });

  it('--heartbeat-ms and --down-ms are checked, and a node started with them serves', async () => {
    const bad = await fos(['node', '--listen', '127.0.0.1:0', '--heartbeat-ms', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^fos: EINVAL: --heartbeat-ms is a positive whole number of milliseconds, got "0"$/m);
    const notANumber = await fos(['node', '--listen', '127.0.0.1:0', '--heartbeat-ms', '500', '--down-ms', 'soon']);
    assert.match(notANumber.stderr, /^fos: EINVAL: --down-ms is a positive whole number/m);
    const tooShort = await fos(['node', '--listen', '127.0.0.1:0', '--heartbeat-ms', '1000', '--down-ms', '500']);
    assert.equal(tooShort.code, 2);
    assert.match(tooShort.stderr, /^usage: fos node\n/m, 'a bad value is followed by the usage of the command');
    assert.match(tooShort.stderr, /^fos: EINVAL: downMs \(500\) is at least three heartbeats \(3 x 1000 ms\)$/m);
    const quick = await startFosNode(['--name', 'quick', '--peers', n1, '--heartbeat-ms', '200', '--down-ms', '2000']);
    try {
      await eventually(async () => /^\/sys\/nodes\/quick\s/m.test((await fos(['ls', '--node', n1, '--secret-file', secretFile])).stdout), 10_000, 'quick to join');
    } finally {
      quick.proc.kill('SIGKILL');
    }
  });

  it('output into a pipe whose reader left (fos demo | head -1) ends quietly, without an EPIPE stack; a client command ends there', async () => {
    const proc = spawn(process.execPath, [FOS, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    nodes.push(proc);
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.once('data', () => proc.stdout!.destroy());
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    assert.doesNotMatch(err, /EPIPE|Unhandled|at /, err);
    assert.equal(code, 0, err);
    // A client command, whose output is all it is for, ends there (fos ping --count 1000000 | head -1).
    const ping = spawn(process.execPath, [FOS, 'ping', '/app/kv', '--count', '1000000', '--node', n1, '--secret-file', secretFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    nodes.push(ping);
    ping.stdout!.once('data', () => ping.stdout!.destroy());
    const pingCode = await new Promise<number | null>((resolve) => ping.once('exit', (c) => resolve(c)));
    assert.equal(pingCode, 0);
  });

  it('fos bench in an installation without bench/ (the published package) fails with a clear ENOENT, not a stack', async () => {
    // The package's files: dist/src alone, beside the dependencies.
    const pkg = mkdtempSync(join(tmpdir(), 'fos-pkg-'));
    try {
      cpSync(fileURLToPath(new URL('../src', import.meta.url)), join(pkg, 'dist', 'src'), { recursive: true });
      symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(pkg, 'node_modules'));
      const r = await new Promise<Run>((resolve) => {
        execFile(process.execPath, [join(pkg, 'dist', 'src', 'cli', 'main.js'), 'bench', '--quick'], { timeout: 30_000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
        });
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, 'fos: ENOENT: fos bench runs in a clone of the fos repository, with its development dependencies (npm install; npm start): this installation has no bench/\n');
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  it('a node asked to listen beyond loopback without a secret refuses to start', async () => {
    const r = await fos(['node', '--listen', '0.0.0.0:0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refusing to listen on or dial 0\.0\.0\.0:0 without a cluster secret/);
  });

  it('a --service module that binds names of its own, not the one given: the node serves it and warns that the name is not bound', async () => {
    const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
    const own = join(dir, 'own-name.mjs');
    writeFileSync(own, `import { serve } from ${JSON.stringify(index)};\nexport default function start() { serve('/own/name', { hi: () => 1 }); }\n`);
    const n = await startFosNode(['--name', 'own', '--service', `/asked/name=${own}`, '--service', `/app/echo2=${ECHO}`]);
    // stderr and stdout are two pipes: the warning, written before the listening line, may be read after it.
    await eventually(() => /fos node: serving \/app\/echo2 \(1 × /.test(n.stderr()), 5000, 'a module that binds its name is served without a warning');
    assert.match(n.stderr(), /fos node: warning: file:\S+\/own-name\.mjs started \(1 ×\) but bound no \/asked\/name: /);
    assert.doesNotMatch(n.stderr(), /warning: \S+echo\.js/);
    n.proc.kill('SIGTERM');
  });

  it("a service's worker that crashes is said with its error and stack, and replaced: the name answers again", async () => {
    const n = await startFosNode(['--name', 'phoenix', '--service', `/app/phoenix=${ECHO}`]);
    try {
      const r = await fos(['call', '/app/phoenix', 'throwSoon', '["the service fell over"]', '--node', n.address, '--secret-file', secretFile]);
      assert.equal(r.stdout, '"soon"\n', r.stderr);
      await eventually(() => /service \/app\/phoenix: a new worker runs, isolate 2$/m.test(n.stderr()), 10_000, 'a new worker');
      assert.match(n.stderr(), /^fos node: a worker of service \/app\/phoenix \(file:\S+\/echo\.js\), isolate 1, crashed \(exit code 1\): Error: the service fell over\n\s+at /m);
      assert.match(n.stderr(), /^fos node: service \/app\/phoenix: a new worker starts in 1 s \(crash 1 in a row; 60 s of running ends a row\)$/m);
      const who = await fos(['call', '/app/phoenix', 'whoami', '--node', n.address, '--secret-file', secretFile]);
      assert.equal(who.stdout, '2\n', who.stderr);
    } finally {
      n.proc.kill('SIGKILL');
    }
  });

  it("a worker that crashes while its service's other workers still start is said as the service's, once they have, and replaced", async () => {
    const n = await startFosNode(['--name', 'early', '--service', `/app/early=${CRASH_WHILE_STARTING}:2`]);
    try {
      await eventually(() => /service \/app\/early \(worker 1 of 2\): a new worker runs, isolate 3$/m.test(n.stderr()), 10_000, 'a new worker');
      assert.match(n.stderr(), /^fos node: a worker of service \/app\/early \(file:\S+\/crash-while-starting\.js\), isolate 1, crashed \(exit code 1\): Error: the first worker fell over as the second started\n/m);
      const members = await fos(['ls', '--node', n.address, '--secret-file', secretFile]);
      assert.match(members.stdout, /^\/app\/early\s+fleet\s+early\s+[23]\/\d+\n\s+early\s+[23]\/\d+$/m, members.stdout);
      // The replacement took the place of the worker it replaced: index 0 of 2, beside index 1 of 2.
      const places = new Set<string>();
      // Each fos call starts its round robin at a random member: twenty of them miss one only once in half a million.
      for (let i = 0; i < 20 && places.size < 2; i++) places.add((await fos(['call', '/app/early', 'whoami', '--node', n.address, '--secret-file', secretFile])).stdout.trim());
      assert.deepStrictEqual([...places].sort(), ['{"isolate":2,"index":1,"count":2}', '{"isolate":3,"index":0,"count":2}']);
    } finally {
      n.proc.kill('SIGKILL');
    }
  });

  it('SIGTERM while the services start ends the start and shuts the node down cleanly', async () => {
    const marker = join(dir, 'slow-started');
    const slow = join(dir, 'slow-start.mjs');
    writeFileSync(slow, `import { writeFileSync } from 'node:fs';\nexport default async function start() {\n  writeFileSync(${JSON.stringify(marker)}, 'x');\n  await new Promise((r) => setTimeout(r, 2000));\n}\n`);
    const proc = spawn(process.execPath, [FOS, 'node', '--listen', '127.0.0.1:0', '--secret-file', secretFile, '--service', `/app/slow=${slow}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    nodes.push(proc);
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await eventually(() => existsSync(marker), 10_000, 'the service to be starting');
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    assert.match(err, /^fos node: shutting down$/m);
  });

  it('a node whose service fails to start stops, and the command fails with the reason', async () => {
    const r = await fos(['node', '--listen', '127.0.0.1:0', '--secret-file', secretFile, '--service', `/app/throws=${THROWS_AT_LOAD}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^fos: EREMOTE: the service \/app\/throws \(file:\S+\/throws-at-load\.js\) did not start: it threw RangeError: this module refuses to load$/m);
    const missing = await fos(['node', '--listen', '127.0.0.1:0', '--secret-file', secretFile, '--service', '/app/none=./no-such-module.js']);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /^fos: ENOENT: the service \/app\/none \(file:\S+\/no-such-module\.js\) did not start: no module at \/\S+\/no-such-module\.js$/m);
  });

  it('a node whose handshakes are refused at every redial (a wrong secret) says so once, and at shutdown how many times more', async () => {
    const wrong = join(dir, 'wrong-for-a-node');
    writeFileSync(wrong, 'not the secret of this cluster at all\n', { mode: 0o600 });
    const n = await startFosNode(['--name', 'stranger', '--peers', n1, '--secret-file', wrong]);
    // Redials back off from 50 ms: a few are refused within a second and a half.
    await eventually(() => /redialing/.test(n.stderr()), 10_000, 'a first refusal');
    await new Promise((r) => setTimeout(r, 1500));
    const closed = new Promise((resolve) => n.proc.once('close', resolve));
    n.proc.kill('SIGTERM');
    await closed;
    const lines = n.stderr().split('\n');
    for (const [what, pattern] of [
      ['refusal', /^fos node: handshake with one rejected: EACCES: authentication failed/],
      ['redial', /^fos node: redialing 127\.0\.0\.1:\d+(?: \(node one\))? in \d+ ms, attempt \d+: EACCES: authentication failed/],
    ] as const) {
      const said = lines.filter((l) => pattern.test(l));
      assert.equal(said.length, 2, `the first ${what}, then at shutdown the last one:\n${n.stderr()}`);
      const held = Number(/\(the last of (\d+) like it held back\)$/.exec(said[1]!)?.[1]);
      assert.ok(held >= 1, `the ${what}s held back are counted: ${said[1]}`);
    }
    assert.doesNotMatch(n.stderr(), /\{"type":/, 'status events in words, not JSON');
  });

  it("the comings and goings of commands' client nodes are said once a minute with their count, not three lines per command", async () => {
    const n = await startFosNode(['--name', 'busy', '--peers', n1]);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await fos(['ls', '--node', n.address, '--secret-file', secretFile]);
        assert.equal(r.code, 0, r.stderr);
      }
      await eventually(() => n.stderr().split('\n').filter((l) => /connection to cli-\d+-[0-9a-f]{6} closed/.test(l)).length === 1, 10_000, 'the first client gone');
    } finally {
      const closed = new Promise((resolve) => n.proc.once('close', resolve));
      n.proc.kill('SIGTERM');
      await closed;
    }
    const lines = n.stderr().split('\n');
    const ups = lines.filter((l) => /^fos node: peer cli-\d+-[0-9a-f]{6} is up/.test(l));
    assert.equal(ups.length, 2, `the first client, then at shutdown the last:\n${n.stderr()}`);
    assert.match(ups[1]!, /\(the last of 2 like it held back\)$/);
    assert.equal(lines.filter((l) => /^fos node: peer one is up/.test(l)).length, 1, 'a node that is not a client is said as before');
  });

  it("a node started under a live node's name is refused, and stops with EEXIST once refused for longer than its down timeout; the live one keeps its names", async () => {
    const t0 = performance.now();
    const twin = await fos(['node', '--listen', '127.0.0.1:0', '--secret-file', secretFile, '--name', 'two', '--peers', n1, '--heartbeat-ms', '200', '--down-ms', '1000']);
    const took = performance.now() - t0;
    assert.equal(twin.code, 1, twin.stderr);
    assert.match(twin.stderr, /^fos: EEXIST: node name two belongs to another process \(give this one another --name\): one has refused this node's name for \d+ ms, longer than the down timeout \(1000 ms\): closed by the peer: EEXIST: node name two is taken/m);
    assert.ok(took > 1000 && took < 15_000, `stopped after ${Math.round(took)} ms: past its down timeout, not long after`);
    const r = await fos(['ls', '--node', n1, '--secret-file', secretFile]);
    assert.match(r.stdout, /\/sys\/nodes\/two\s/, 'the live two keeps its names');
    assert.match(r.stdout, /greeter/);
  });

  it('SIGTERM shuts a node down cleanly: its peer hears it at once', async () => {
    const [one, two] = nodes;
    const exited = new Promise<number | null>((resolve) => two!.once('exit', (code) => resolve(code)));
    two!.kill('SIGTERM');
    assert.equal(await exited, 0);
    const r = await fos(['ls', '--node', n1, '--secret-file', secretFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /greeter|\/sys\/nodes\/two/, 'node two and its names are gone');
    assert.equal(one!.exitCode, null, 'node one still runs');
  });
});

describe('the restarts of fos node', () => {
  const service = { name: '/svc' };
  const opts = { baseMs: 20, maxMs: 50, windowMs: 10_000 };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('replaces a crashed worker after a delay that doubles with each recent crash, up to the most; a start that fails is a crash', async () => {
    const said: string[] = [];
    const starts: number[] = [];
    let failures = 2;
    const t0 = performance.now();
    const restarts = new Restarts(
      async () => {
        starts.push(performance.now() - t0);
        if (failures-- > 0) throw new Error('cannot start');
        return 7;
      },
      (line) => said.push(line),
      opts,
    );
    restarts.crashed(service);
    await eventually(() => said.some((l) => /a new worker runs, isolate 7$/.test(l)), 5000, 'the third start');
    assert.equal(starts.length, 3);
    // 20 ms, then 40, then 50 (the most): each start comes at least that long after the one before.
    assert.ok(starts[0]! >= 19 && starts[1]! - starts[0]! >= 39 && starts[2]! - starts[1]! >= 49, `starts at ${starts.map(Math.round).join(', ')} ms`);
    assert.deepStrictEqual(said.filter((l) => /starts in/.test(l)), [
      'service /svc: a new worker starts in 20 ms (crash 1 in a row; 10 s of running ends a row)',
      'service /svc: a new worker starts in 40 ms (crash 2 in a row; 10 s of running ends a row)',
      'service /svc: a new worker starts in 50 ms (crash 3 in a row; 10 s of running ends a row)',
    ]);
    assert.equal(said.filter((l) => /did not start: cannot start$/.test(l)).length, 2);
    assert.equal(restarts.pending, 0);
  });

  it('a row of crashes keeps the longest delay however long it lasts, and ends once a replacement ran the window; after stop() starts nothing', async () => {
    let now = 0;
    const said: string[] = [];
    let started = 0;
    const restarts = new Restarts(
      async () => ++started,
      (line) => said.push(line),
      { baseMs: 1000, maxMs: 30_000, windowMs: 60_000 },
      () => now,
    );
    const delays: number[] = [];
    // A module that crashes a second after each start, for 20 crashes: 1, 2, 4, 8, 16, then 30 s each time.
    for (let i = 0; i < 20; i++) {
      restarts.crashed(service);
      const delay = Number(/starts in (\d+) s/.exec(said[said.length - 1]!)?.[1]) * 1000;
      delays.push(delay / 1000);
      now += delay + 1000;
    }
    assert.deepStrictEqual(delays, [1, 2, 4, 8, 16, ...Array<number>(15).fill(30)]);
    restarts.stop();
    said.length = 0;
    const fresh = new Restarts(async () => ++started, (line) => said.push(line), opts, () => now);
    fresh.crashed(service);
    now += 20 + 10_000; // its replacement ran the window
    fresh.crashed(service);
    now += 20 + 9_999; // this one did not
    fresh.crashed(service);
    assert.deepStrictEqual(said, [
      'service /svc: a new worker starts in 20 ms (crash 1 in a row; 10 s of running ends a row)',
      'service /svc: a new worker starts in 20 ms (crash 1 in a row; 10 s of running ends a row)',
      'service /svc: a new worker starts in 40 ms (crash 2 in a row; 10 s of running ends a row)',
    ]);
    assert.equal(fresh.pending, 3);
    // Another worker's row is its own: two workers that fall together each start their row.
    fresh.crashed({ name: '/svc (worker 2 of 2)' });
    assert.equal(said[said.length - 1], 'service /svc (worker 2 of 2): a new worker starts in 20 ms (crash 1 in a row; 10 s of running ends a row)');
    said.length = 3;
    assert.equal(fresh.pending, 4);
    fresh.stop();
    assert.equal(fresh.pending, 0);
    await sleep(80);
    assert.equal(started, 0);
    fresh.crashed(service);
    assert.equal(fresh.pending, 0, 'nothing is scheduled once stopped');
  });
});

describe("fos call's printing of a result", () => {
  it('writes what JSON has no word for as the nearest thing it has, never as {}', () => {
    const cases: [unknown, string][] = [
      [new Map<unknown, unknown>([['a', 1], ['b', { c: 2 }]]), '{"a":1,"b":{"c":2}}'],
      [new Map<unknown, unknown>([[1, 'one'], ['two', 2]]), '[[1,"one"],["two",2]]'],
      [new Set(['x', 1]), '["x",1]'],
      [Uint8Array.of(1, 2, 255), '[1,2,255]'],
      [Buffer.from('hi'), '[104,105]'],
      [Float64Array.of(0.5), '[0.5]'],
      [BigInt64Array.of(-1n), '["-1n"]'],
      [new DataView(Uint8Array.of(9, 8, 7).buffer, 1), '[8,7]'],
      [Uint8Array.of(3, 4).buffer, '[3,4]'],
      [Object.assign(new RangeError('too far'), { code: 'EFAR' }), '{"name":"RangeError","message":"too far","code":"EFAR"}'],
      [new Error('outer', { cause: new Map([['why', 'inner']]) }), '{"name":"Error","message":"outer","cause":{"why":"inner"}}'],
      [/a+b/gi, '"/a+b/gi"'],
      [2n ** 70n, '"1180591620717411303424n"'],
      [new Date(0), '"1970-01-01T00:00:00.000Z"'],
      [undefined, 'null'],
      [[undefined, 1], '[null,1]'],
      [{ tags: new Set(['t']), raw: Uint8Array.of(0), m: new Map([['k', new Map([['in', true]])]]) }, '{"tags":["t"],"raw":[0],"m":{"k":{"in":true}}}'],
    ];
    for (const [v, json] of cases) assert.equal(resultJson(v), json);
  });

  it('writes a value that holds itself with "[Circular]" where it comes again; one held twice, not in itself, is written twice', () => {
    const m = new Map<string, unknown>([['a', 1]]);
    m.set('self', m);
    assert.equal(resultJson(m), '{"a":1,"self":"[Circular]"}');
    const o: Record<string, unknown> = { n: 1 };
    o['me'] = { back: o };
    assert.equal(resultJson(o), '{"n":1,"me":{"back":"[Circular]"}}');
    const a: unknown[] = [1];
    a.push(new Set([a]));
    assert.equal(resultJson(a), '[1,["[Circular]"]]');
    const shared = { x: 1 };
    assert.equal(resultJson([shared, { again: shared }]), '[{"x":1},{"again":{"x":1}}]');
  });
});

describe('the name-taken watch of fos node', () => {
  const refusal = (by: 'local' | 'peer', code: ErrorCode, node = 'a'): StatusEvent => ({ type: 'handshake-rejected', address: '127.0.0.1:1', node, reason: `${code}: why`, code, by });
  it("stops a node only once a peer has refused its name (EEXIST, by the peer) for longer than the down timeout, without letting it in meanwhile", () => {
    const w = new NameTakenWatch(1000);
    assert.equal(w.see(refusal('peer', 'EEXIST'), 0), undefined, 'a first refusal: a restart is refused for a while');
    assert.equal(w.see(refusal('peer', 'EEXIST'), 1000), undefined, 'still within the down timeout');
    assert.equal(w.see({ type: 'peer-up', node: 'a', address: '127.0.0.1:1', resumed: false }, 1200), undefined);
    assert.equal(w.see(refusal('peer', 'EEXIST'), 2100), undefined, 'let in meanwhile: a new streak');
    assert.equal(w.see(refusal('peer', 'EEXIST', 'b'), 3200), undefined, "another peer's first refusal");
    assert.match(w.see(refusal('peer', 'EEXIST'), 3200) ?? '', /^a has refused this node's name for 1100 ms, longer than the down timeout \(1000 ms\): EEXIST: why$/);
  });

  it('stops a node that a peer refused until the node declared it down: a process back from a hang, replaced meanwhile', () => {
    const w = new NameTakenWatch(10_000);
    const down = (node: string): StatusEvent => ({ type: 'peer-down', node, reason: 'no frame for 10001 ms' });
    assert.equal(w.see(down('a'), 0), undefined, 'a peer down without a refusal: nothing to say of the name');
    assert.equal(w.see(refusal('peer', 'EEXIST'), 100), undefined);
    assert.equal(w.see(down('b'), 200), undefined, 'another peer');
    assert.equal(w.see(down('a'), 9000), "a refused this node's name until it was declared down (no frame for 10001 ms)");
  });

  it('takes no other refusal for a taken name: other codes, or refusals this node made of a peer', () => {
    const w = new NameTakenWatch(1000);
    for (const [by, code] of [['local', 'EEXIST'], ['peer', 'EACCES'], ['peer', 'EAGAIN'], ['peer', 'EINVAL']] as const) {
      assert.equal(w.see(refusal(by, code), 0), undefined);
      assert.equal(w.see(refusal(by, code), 5000), undefined, `${code} by ${by}`);
    }
  });
});

describe('the repeat filter of fos node', () => {
  /** A filter whose lines are kept in `said`. */
  const filter = (periodMs = 60_000, limit = 256): { f: RepeatFilter; said: string[] } => {
    const said: string[] = [];
    return { f: new RepeatFilter((line) => said.push(line), periodMs, limit), said };
  };

  it('holds back a line repeated within the period and counts it when the line is said again', () => {
    const { f, said } = filter();
    f.say('k', 'line 1', 0);
    f.say('k', 'line 2', 1000);
    f.say('other', 'other', 1000);
    f.say('k', 'line 3', 59_999);
    f.say('k', 'line 4', 61_000);
    f.say('k', 'line 5', 62_000);
    assert.deepStrictEqual(said, ['line 1', 'other', 'line 4 (2 more like it held back in the last 61 s)'], 'another key at once; a new period from the line said');
  });

  it('on reset, says the last of each held-back line it forgets and how many, then says those lines again', () => {
    const { f, said } = filter();
    f.say('a from one', 'a1', 0);
    f.say('a from one', 'a2', 1);
    f.say('a from one', 'a3', 2);
    f.say('b from two', 'b1', 3);
    f.say('b from two', 'b2', 4);
    f.reset((key) => key.includes('one'));
    assert.deepStrictEqual(said.splice(0), ['a1', 'b1', 'a3 (the last of 2 like it held back)'], 'only the lines of the peer that came up');
    f.say('a from one', 'a4', 5);
    f.say('b from two', 'b3', 6);
    assert.deepStrictEqual(said.splice(0), ['a4'], "one's line is said again, two's is still held");
    f.reset();
    assert.deepStrictEqual(said, ['b3 (the last of 2 like it held back)']);
  });

  it('remembers a bounded number of keys: the least recently said is forgotten, its held lines counted, and said again', () => {
    const { f, said } = filter(60_000, 2);
    f.say('a', 'a', 0);
    f.say('a', 'a again', 0);
    f.say('b', 'b', 1);
    f.say('c', 'c', 2);
    f.say('b', 'b again', 3);
    f.say('a', 'a once more', 4);
    assert.deepStrictEqual(
      said,
      ['a', 'b', 'a again (the last of 1 like it held back)', 'c', 'b again (the last of 1 like it held back)', 'a once more'],
      'a forgotten when c came, with its count, and said again; b held, then forgotten for it, with its count',
    );
  });

  it("tells which lines speak of a peer that came up: its name or address as a whole word", () => {
    assert.equal(mentions('handshake with n1 rejected: EACCES', 'n1'), true);
    assert.equal(mentions('handshake with n12 rejected: EACCES', 'n1'), false);
    assert.equal(mentions('node a-1 is down', 'a'), false);
    assert.equal(mentions('redialing 127.0.0.1:700 in 50 ms', '127.0.0.1:700'), true);
    assert.equal(mentions('redialing 127.0.0.1:7000 in 50 ms', '127.0.0.1:700'), false);
    assert.equal(mentions('connection to x.y closed', 'x'), false, 'a dot joins a name');
    assert.equal(mentions('handshake with n1: refused', 'n1'), true, 'a colon that ends a clause');
    assert.equal(mentions('it ended with n1.', 'n1'), true);
    assert.equal(mentions('redialing 127.0.0.1:7000 (node n1) in 50 ms', ''), false, 'an empty word (a peer-up with no address)');
  });

  it("keys every client node's line of one kind alike, whatever the client and its address; other lines keep their key", () => {
    const a = clientName(12, 'a1b2c3');
    const b = clientName(345, 'ffffff');
    assert.ok(isClient(a) && isClient(b));
    for (const other of ['one', 'cli-12', 'cli-12-a1b2c3x', 'my-cli-12-a1b2c3', 'cli-12-a1b2cg']) assert.ok(!isClient(other), other);
    const up = (name: string, port: number): string => clientKey(statusLine({ type: 'peer-up', node: name, address: `127.0.0.1:${port}`, resumed: false })!);
    assert.equal(up(a, 40001), up(b, 40002));
    assert.equal(clientKey(logKey(`connection to ${a} closed: closed by the peer: node shut down`)), clientKey(logKey(`connection to ${b} closed: closed by the peer: node shut down`)));
    assert.ok(!speaksOf(up(a, 40001), 'one', '127.0.0.1:7070'), "another peer's coming up does not end a client's line");
    assert.equal(clientKey(`connection to ${a} closed at [::1]:40001`), clientKey(`connection to ${b} closed at [::1]:40002`), 'IPv6 addresses too');
    const plain = 'peer one is up (at 127.0.0.1:7070)';
    assert.equal(clientKey(plain), plain);
  });

  it('keys a log line without the ports of its addresses: a dialer refused at every redial, from a new port each time, is one line', () => {
    const at = (port: number): string => `handshake with 127.0.0.1:${port} rejected: EINVAL: the peer calls itself same, as this node is called`;
    assert.equal(logKey(at(41234)), logKey(at(41240)));
    assert.notEqual(logKey(at(41234)), logKey('handshake with 127.0.0.1:41234 rejected: EACCES: authentication failed'));
    assert.equal(logKey('node one is down'), 'node one is down');
  });

  it("a peer that comes up speaks of the keys of its redials and of its log lines, whose addresses have no port", () => {
    const up = { node: 'one', address: '127.0.0.1:7070' };
    const redial = repeatKey({ type: 'reconnecting', address: up.address, attempt: 3, delayMs: 200, reason: 'ECONNREFUSED' }, 'redialing …');
    assert.equal(speaksOf(redial, up.node, up.address), true);
    assert.equal(speaksOf(logKey('handshake with 127.0.0.1:7070 rejected: EACCES'), up.node, up.address), true);
    assert.equal(speaksOf(logKey('handshake with two rejected: EACCES'), up.node, up.address), false);
  });

  it('keys a redial by its address and reason, not its attempt and delay; says refusals and downs only in the log', () => {
    const redial = (attempt: number): StatusEvent => ({ type: 'reconnecting', address: '127.0.0.1:1', attempt, delayMs: 50 * attempt, reason: 'ECONNREFUSED' });
    const first = statusLine(redial(1))!;
    const second = statusLine(redial(2))!;
    assert.notEqual(first, second);
    assert.equal(repeatKey(redial(1), first), repeatKey(redial(2), second));
    assert.equal(statusLine({ type: 'handshake-rejected', address: '127.0.0.1:1', reason: 'r', code: 'EACCES', by: 'local' }), undefined);
    assert.equal(statusLine({ type: 'peer-down', node: 'a', reason: 'r' }), undefined);
    assert.equal(statusLine({ type: 'peer-up', node: 'a', address: '127.0.0.1:1', resumed: false }), 'peer a is up (at 127.0.0.1:1)');
  });
});
