/**
 * How `fos node` keeps its services up: a worker of a `--service` that
 * crashed (it threw outside any handler, or exited by itself) is replaced
 * by a new one, after a delay that doubles with each crash of that
 * worker (its place in the service, `S`) in a row (1 s, 2 s, 4 s, ... up
 * to 30 s), so that a module that crashes as it starts is retried, not
 * spun on. A crash is in the row of the one before unless the replacement
 * that one got had run a minute (the window) by then. A replacement that
 * fails to start counts as a crash too.
 *
 * Invariant: at most one replacement per crashed worker is pending or
 * starting; after `stop()` none is started.
 */

export interface RestartOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  /** A replacement that runs this long ends its worker's row of crashes. */
  readonly windowMs: number;
}

export const DEFAULT_RESTARTS: RestartOptions = { baseMs: 1000, maxMs: 30_000, windowMs: 60_000 };

export class Restarts<S extends { readonly name: string }> {
  /** Each worker's row of crashes: how many, when the last came (ms), and the delay it got. */
  private readonly rows = new Map<S, { count: number; at: number; delay: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    /** Starts a worker in place `service`; resolves with its isolate number, or rejects with why it did not start. */
    private readonly startOne: (service: S) => Promise<number>,
    /** Says a line (on the node's stderr). */
    private readonly say: (line: string) => void,
    private readonly opts: RestartOptions = DEFAULT_RESTARTS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The worker in place `service` crashed (or its replacement did not start): a new one starts after the delay. */
  crashed(service: S): void {
    if (this.stopped) return;
    const now = this.now();
    const last = this.rows.get(service);
    // The replacement the last crash got started `delay` after it: had it run the window by now?
    const count = last !== undefined && now - last.at < last.delay + this.opts.windowMs ? last.count + 1 : 1;
    const delay = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(count - 1, 30));
    this.rows.set(service, { count, at: now, delay });
    this.say(`service ${service.name}: a new worker starts in ${formatDelay(delay)} (crash ${count} in a row; ${formatDelay(this.opts.windowMs)} of running ends a row)`);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopped) return;
      this.startOne(service).then(
        (isolate) => {
          if (this.stopped) return;
          this.say(`service ${service.name}: a new worker runs, isolate ${isolate}`);
        },
        (e: unknown) => {
          if (this.stopped) return;
          this.say(`service ${service.name}: the new worker did not start: ${(e as Error).message}`);
          this.crashed(service);
        },
      );
    }, delay);
    this.timers.add(timer);
  }

  /** No more replacements (the node shuts down). */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Replacements waiting for their delay. */
  get pending(): number {
    return this.timers.size;
  }
}

function formatDelay(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
