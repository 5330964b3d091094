// How figures are written, the same in the terminal and in the report.

/** Microseconds with three significant figures or so. */
export function fmtMicros(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us < 0.01) return us.toFixed(4);
  if (us < 0.1) return us.toFixed(3);
  return us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : us.toFixed(0);
}

/** A payload size: 8 B, 1 KiB, 256 KiB. */
export function fmtBytes(bytes: number): string {
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** A rate: 1.23 M, 456 k, 78.9. */
export function fmtRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-';
  // Pick the unit after rounding, so that 999.7 reads 1.00 k, never 1.00e+3.
  const rounded = Number(perSecond.toPrecision(3));
  if (rounded >= 1e6) return `${(perSecond / 1e6).toPrecision(3)} M`;
  if (rounded >= 1e3) return `${(perSecond / 1e3).toPrecision(3)} k`;
  return perSecond < 1 ? perSecond.toPrecision(2) : String(Math.round(perSecond));
}

/** A ratio: 0.52×, 6.4×, 1200×. */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** A range of two figures written the same way: `9.8-12.1`. */
export function fmtRange(lo: number, hi: number, f: (v: number) => string): string {
  return `${f(lo)}-${f(hi)}`;
}

/** A bandwidth given in MB/s: 45.6 MB/s, 1.23 GB/s. */
export function fmtBandwidth(megabytesPerSecond: number): string {
  if (!Number.isFinite(megabytesPerSecond)) return '-';
  return Number(megabytesPerSecond.toPrecision(3)) >= 1000 ? `${(megabytesPerSecond / 1000).toPrecision(3)} GB/s` : `${megabytesPerSecond.toPrecision(3)} MB/s`;
}
