// The shm pump on its own, with sources that are plain functions: the
// microtask turns it gives after work, a source removed while it walks
// them, and stopping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newDoorbell } from '../src/transport/shm/doorbell.js';
import { Pump, type PumpSource } from '../src/transport/shm/pump.js';
import { woke, wrote } from '../src/util/wakeups.js';

// A slice far longer than a test: the pump never goes back to the event
// loop (which would run every chain to its end) while a test watches it.
const POLLING = { poll: true, spinMicros: 50, pollSliceMicros: 60_000_000 };

/** A source with work `jobs` times; `job` runs on each. Resolves once all are done and the pump looked again. */
function source(jobs: number, job: (n: number) => void): { source: PumpSource; done: Promise<number> } {
  let left = jobs;
  let looks = 0;
  let finish: (looks: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  return {
    source: {
      pending: () => true,
      poll: () => {
        looks++;
        if (left === 0) {
          finish(looks);
          return false;
        }
        job(jobs - left--);
        return true;
      },
    },
    done,
  };
}

/** A promise chain of `steps` awaits after it starts; `progress[n]` counts how far chain n got. */
function chain(steps: number, progress: number[], n: number): void {
  progress[n] = 0;
  void (async () => {
    for (let i = 0; i < steps; i++) {
      await undefined;
      progress[n]!++;
    }
  })();
}

/**
 * A polling pump serving 20 jobs, each starting a promise chain of 6 steps
 * (counted as a wake-up when `counted`): how far the previous job's chain
 * had got each time the pump looked again, and the chains' progress.
 */
async function jobsWithChains(counted: boolean): Promise<{ seenAtNextLook: number[]; progress: number[] }> {
  const pump = new Pump(newDoorbell(), POLLING);
  const progress: number[] = [];
  const seenAtNextLook: number[] = [];
  const s = source(20, (n) => {
    if (n > 0) seenAtNextLook.push(progress[n - 1]!);
    chain(6, progress, n);
    if (counted) woke();
  });
  pump.add(s.source);
  await s.done;
  pump.stop();
  return { seenAtNextLook, progress };
}

describe('shm pump', () => {
  it('after work that set a promise chain moving, gives it turns enough to go on before it looks again', async () => {
    const { seenAtNextLook } = await jobsWithChains(true);
    assert.equal(seenAtNextLook.length, 19);
    for (const p of seenAtNextLook) assert.equal(p, 6, 'the chain of the previous job had finished when the pump looked again');
  });

  it('after work that settled nothing, looks again after one turn, and chains still move on while it spins', async () => {
    // Not counted as wake-ups: the pump cannot know of these chains.
    const { seenAtNextLook, progress } = await jobsWithChains(false);
    assert.ok(seenAtNextLook.every((p) => p < 6), `one turn between looks: ${seenAtNextLook.join(',')}`);
    // Every chain finishes all the same, in the turns the pump gives while it spins.
    await new Promise((r) => setImmediate(r));
    assert.deepStrictEqual(progress, new Array(20).fill(6));
  });

  it('stops giving turns once a chain it set moving has sent again, and looks for work at once', async () => {
    const pump = new Pump(newDoorbell(), POLLING);
    const progress: number[] = [];
    const seenAtNextLook: number[] = [];
    const s = source(10, (n) => {
      if (n > 0) seenAtNextLook.push(progress[n - 1]!);
      progress[n] = 0;
      // A caller's chain: two steps to its next send, then four more it does not need the pump for.
      void (async () => {
        for (let i = 0; i < 6; i++) {
          await undefined;
          if (++progress[n]! === 2) wrote();
        }
      })();
      woke();
    });
    pump.add(s.source);
    await s.done;
    pump.stop();
    assert.ok(seenAtNextLook.every((p) => p >= 2 && p < 6), `the pump looked again soon after the send: ${seenAtNextLook.join(',')}`);
  });

  it('polls only the sources with work pending (a kernel link is polled only when its port has frames)', async () => {
    const pump = new Pump(newDoorbell(), POLLING);
    let idlePolls = 0;
    const idle: PumpSource = { pending: () => false, poll: () => (idlePolls++, false) };
    const busy = source(50, () => {});
    pump.add(idle);
    pump.add(busy.source);
    await busy.done;
    pump.stop();
    assert.equal(idlePolls, 0, 'the source with nothing pending was never polled');
  });

  it('a source removed while the pump walks them is not polled again, in that walk or after; the others go on', async () => {
    const pump = new Pump(newDoorbell(), POLLING);
    let removerLooks = 0;
    let removedLooks = 0;
    const removed: PumpSource = { pending: () => true, poll: () => (removedLooks++, true) };
    const remover: PumpSource = {
      pending: () => true,
      poll: () => {
        // Its first poll removes itself and the source after it in this walk.
        if (removerLooks++ === 0) {
          pump.remove(remover);
          pump.remove(removed);
        }
        return true;
      },
    };
    const after = source(3, () => {});
    pump.add(remover);
    pump.add(removed);
    pump.add(after.source);
    await after.done;
    pump.stop();
    assert.equal(removerLooks, 1, 'the source that removed itself was not polled again');
    assert.equal(removedLooks, 0, 'the source it removed was not polled, though the walk had it still ahead');
    assert.equal(pump.size, 0, 'stopped: no source left');
  });
});
