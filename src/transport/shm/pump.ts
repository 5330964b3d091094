/**
 * The per-isolate loop that serves its shm channels: it drains every ready
 * record of every incoming ring, applies the verdicts of every outgoing one,
 * and when there is nothing to do spins for a short budget, then parks on
 * the isolate's doorbell with `Atomics.waitAsync`, so that its event loop
 * lives on (timers, kernel messages) while it sleeps.
 *
 * In poll mode (a service spawned with `poll: true`: it owns its core, as
 * fos servers do) it never parks: it spins in slices and yields to the event
 * loop between slices (`setImmediate`), so kernel messages, timers and
 * shutdown still get through.
 */
import { wakeups, written } from '../../util/wakeups.js';
import { AWAKE, PARKED, STATE } from './doorbell.js';

export interface PumpSource {
  /** Does the work ready now; true if there was any. */
  poll(): boolean;
  /** True if `poll` would find work (cheap: a few atomic loads). */
  pending(): boolean;
}

export interface PumpOptions {
  /** Never park; spin in slices of `pollSliceMicros`. */
  readonly poll: boolean;
  /** How long to spin for new work before parking. */
  readonly spinMicros: number;
  /** In poll mode, how long to spin before yielding to the event loop. */
  readonly pollSliceMicros: number;
}

/** Microtask turns the pump gives after work that set promise chains moving (util/wakeups.ts), before it looks for more. */
const MICROTASK_STEPS = 8;

/**
 * What the loop awaits to give the microtask queue a turn: a promise that
 * is already resolved, because `await undefined` first wraps its operand
 * in a new one (an allocation per turn, on a path that takes eight turns
 * per call served).
 */
const TURN = Promise.resolve();

/** A parked pump looks at its sources at least this often. */
const PARK_CHECK_MS = 1000;

export const DEFAULT_PUMP: PumpOptions = { poll: false, spinMicros: 50, pollSliceMicros: 200 };

export class Pump {
  /**
   * An array, not a Set: the loop walks it on every spin, and a Set's
   * iterator was an allocation per walk (kilobytes of garbage per message
   * served, and a young-generation GC pause every thousand or so calls).
   */
  private sources: PumpSource[] = [];
  private scheduled = false;
  private parked = false;
  private stopped = false;
  /** The one outstanding Atomics.waitAsync, kept across parks so that waiters never pile up. */
  private waiting: Promise<unknown> | undefined;

  constructor(
    private readonly bell: Int32Array,
    private readonly opts: PumpOptions,
  ) {}

  get size(): number {
    return this.sources.length;
  }

  /** True in poll mode: it never parks. */
  get polling(): boolean {
    return this.opts.poll;
  }

  add(s: PumpSource): void {
    if (!this.sources.includes(s)) this.sources = [...this.sources, s];
    this.wake();
  }

  /** A new array rather than a splice: a walk in progress goes on over the old one, skipping what left it (see pollOnce). */
  remove(s: PumpSource): void {
    if (this.sources.includes(s)) this.sources = this.sources.filter((x) => x !== s);
  }

  /**
   * Makes sure the loop runs soon: after a send, so that it spins for the
   * answer instead of sleeping through it. No system call: a parked loop
   * just stops counting as parked (its waiter stays, for the next park).
   */
  wake(): void {
    if (this.stopped) return;
    if (this.parked) {
      this.parked = false;
      Atomics.store(this.bell, STATE, AWAKE);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.sources = [];
    // Release the outstanding waiter too (even one a wake() left behind), so
    // that nothing of this pump outlives it.
    if (this.parked || this.waiting !== undefined) {
      Atomics.store(this.bell, STATE, AWAKE);
      Atomics.notify(this.bell, STATE);
    }
  }

  /**
   * One pass over the sources, polling those with work pending; true if any
   * had some. A source without is not polled: a kernel link's poll is a
   * call into C++ and a lock (receiveMessageOnPort), which a call that came
   * by a ring would otherwise wait behind.
   */
  pollOnce(): boolean {
    const sources = this.sources;
    let worked = false;
    for (let i = 0; i < sources.length; i++) {
      const s = sources[i]!;
      // A source removed by an earlier one's poll (a channel dropped when its peer died) is not polled again.
      if (this.sources !== sources && !this.sources.includes(s)) continue;
      if (s.pending() && s.poll()) worked = true;
    }
    return worked;
  }

  private pending(): boolean {
    const sources = this.sources;
    for (let i = 0; i < sources.length; i++) if (sources[i]!.pending()) return true;
    return false;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() =>
      this.run().catch((e: unknown) => {
        // A bug of ours: loud, but the pump goes on for everyone else's traffic.
        this.scheduled = false;
        this.schedule();
        process.nextTick(() => {
          throw e;
        });
      }),
    );
  }

  /**
   * One slice of the loop: while there is work it does it, yielding only to
   * the microtask queue in between (so that promises its work settled, a
   * caller's or an async handler's, move on at once), and it goes on
   * spinning for the next record rather than back to the event loop, which
   * would cost several µs each time. It returns to the event loop after
   * `pollSliceMicros`, or parks once idle for `spinMicros` (not in poll mode).
   * `scheduled` stays true while it runs, so a wake() has nothing to do.
   */
  private readonly run = async (): Promise<void> => {
    const { poll, spinMicros, pollSliceMicros } = this.opts;
    let now = performance.now();
    const sliceEnd = now + pollSliceMicros / 1000;
    let idleEnd = now + spinMicros / 1000;
    for (let i = 0; ; i++) {
      if (this.stopped || this.sources.length === 0) {
        this.scheduled = false;
        return;
      }
      const before = wakeups();
      if (this.pollOnce()) {
        // Each await lets every promise chain take one step: enough for a
        // caller to see its answer and send its next message. Work that
        // settled no promise (a synchronous handler answering a callSync)
        // leaves nothing to move on but what was queued before: one turn.
        // Up to MICROTASK_STEPS turns, fewer once a chain got as far as a
        // send: a caller awaiting its call makes its next one in two or
        // three turns, and each turn spent after that delays the next look.
        const steps = wakeups() === before ? 1 : MICROTASK_STEPS;
        const sends = written();
        for (let k = 0; k < steps; k++) {
          await TURN;
          if (written() !== sends) break;
        }
        now = performance.now();
        idleEnd = now + spinMicros / 1000;
        i = 0;
      } else if ((i & 63) === 63) {
        await TURN; // longer chains move on while it spins
        now = performance.now();
      } else continue;
      if (now >= sliceEnd) {
        this.scheduled = false;
        this.schedule();
        return;
      }
      if (!poll && now >= idleEnd) {
        this.scheduled = false;
        this.park();
        return;
      }
    }
  };

  private park(): void {
    Atomics.store(this.bell, STATE, PARKED);
    this.parked = true;
    // The re-check after announcing PARKED: a record published before a
    // peer saw PARKED is caught here, one published after gets a notify.
    if (this.pending()) {
      this.unpark();
      return;
    }
    if (this.waiting !== undefined) return; // the waiter of an earlier park still waits
    // A bounded sleep, as a guard: a peer that writes and forgets to ring
    // (a bug: late verdicts once did) costs a stall of this long, not a hang.
    const w = Atomics.waitAsync(this.bell, STATE, PARKED, PARK_CHECK_MS);
    if (!w.async) {
      this.unpark();
      return;
    }
    this.waiting = w.value.then(() => {
      this.waiting = undefined;
      if (this.parked) this.unpark();
    });
  }

  private unpark(): void {
    this.parked = false;
    Atomics.store(this.bell, STATE, AWAKE);
    this.schedule();
  }
}
