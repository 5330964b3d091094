// Progress on stderr while the evaluation measures: a bar redrawn in place
// on a terminal, plain lines (one per measured cell) anywhere else, so that
// a CI log stays readable.
const BAR_WIDTH = 28;

export class Progress {
  private done = 0;
  private lastCell = '';
  private readonly t0 = performance.now();
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = out.isTTY === true;
  }

  /** One step done: `cell` names what is being measured, `step` which repetition. */
  tick(cell: string, step = ''): void {
    this.done = Math.min(this.total, this.done + 1);
    const pct = this.total === 0 ? 100 : Math.floor((100 * this.done) / this.total);
    if (this.tty) {
      const filled = Math.round((BAR_WIDTH * pct) / 100);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
      const line = `${bar} ${String(pct).padStart(3)}% ${elapsed(this.t0)} ${cell}${step ? ` · ${step}` : ''}`;
      this.out.write(`\r\x1b[K${line.slice(0, Math.max(40, (this.out.columns || 100) - 1))}`);
    } else if (cell !== this.lastCell) {
      this.out.write(`[${String(pct).padStart(3)}%] ${elapsed(this.t0)} ${cell}\n`);
    }
    this.lastCell = cell;
  }

  /** A line of its own (a warning, a phase), the bar redrawn below it. */
  note(line: string): void {
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${line}\n`);
  }

  finish(): void {
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`measured in ${elapsed(this.t0)}\n`);
  }
}

function elapsed(t0: number): string {
  const s = Math.round((performance.now() - t0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
