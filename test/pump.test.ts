// The shm pump on its own, with sources that are plain functions: the
// microtask turns it gives after work, a source removed while it walks
// them, and stopping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newDoorbell } from '../src/transport/shm/doorbell.js';
import { Pump, type PumpSource } from '../src/transport/shm/pump.js';
import { woke } from '../src/util/wakeups.js';

const POLLING = { poll: true, spinMicros: 50, pollSliceMicros: 2000 };

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

describe('shm pump', () => {
  it('after work that set a promise chain moving, gives it turns enough to go on before it looks again', async () => {
    const pump = new Pump(newDoorbell(), POLLING);
    const progress: number[] = [];
    const seenAtNextLook: number[] = [];
    const s = source(20, (n) => {
      if (n > 0) seenAtNextLook.push(progress[n - 1]!);
      chain(6, progress, n);
      woke();
    });
    pump.add(s.source);
    await s.done;
    pump.stop();
    assert.equal(seenAtNextLook.length, 19);
    for (const p of seenAtNextLook) assert.equal(p, 6, 'the chain of the previous job had finished when the pump looked again');
  });

  it('after work that settled nothing, looks again after one turn, and chains still move on while it spins', async () => {
    const pump = new Pump(newDoorbell(), POLLING);
    const progress: number[] = [];
    const seenAtNextLook: number[] = [];
    const s = source(20, (n) => {
      if (n > 0) seenAtNextLook.push(progress[n - 1]!);
      chain(6, progress, n); // not counted as a wake-up: the pump cannot know of it
    });
    pump.add(s.source);
    await s.done;
    pump.stop();
    assert.ok(seenAtNextLook.every((p) => p < 6), `one turn between looks: ${seenAtNextLook.join(',')}`);
    // Every chain finishes all the same, in the turns the pump gives while it spins.
    await new Promise((r) => setImmediate(r));
    assert.deepStrictEqual(progress, new Array(20).fill(6));
  });

  it('goes on over the other sources when one removes itself while the pump walks them', async () => {
    const pump = new Pump(newDoorbell(), POLLING);
    let removedLooks = 0;
    const removing: PumpSource = {
      pending: () => true,
      poll: () => {
        removedLooks++;
        pump.remove(removing);
        return true;
      },
    };
    const after = source(3, () => {});
    pump.add(removing);
    pump.add(after.source);
    await after.done;
    pump.stop();
    assert.equal(removedLooks, 1, 'a removed source is not polled again');
    assert.equal(pump.size, 0, 'stopped: no source left');
  });
});
