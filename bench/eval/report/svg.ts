// What every chart shares: escaping, the plot frame, axes with grid lines.
import { linearScale, logScale, tickLabel, type Scale } from './scales.js';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds a coordinate for compact, stable SVG. */
export const px = (v: number): string => (Math.round(v * 10) / 10).toString();

export interface AxisSpec {
  readonly label: string;
  readonly log: boolean;
  /** Where the ticks go instead of the scale's own (the measured payload sizes, say). */
  readonly ticks?: readonly number[];
  readonly format?: (v: number) => string;
}

/** The chart's box and the plot area inside it, leaving room for the axes' labels. */
export interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

export function frame(width = 760, height = 360): Frame {
  return { width, height, left: 70, right: width - 16, top: 16, bottom: height - 52 };
}

/** A scale over `values` (positive ones only for a log axis), with some headroom on a linear one. */
export function scaleFor(axis: AxisSpec, values: readonly number[], range: readonly [number, number]): Scale {
  const v = values.filter((x) => Number.isFinite(x) && (!axis.log || x > 0));
  const lo = v.length ? Math.min(...v) : 1;
  const hi = v.length ? Math.max(...v) : 10;
  return axis.log ? logScale(lo, hi, range) : linearScale(Math.min(0, lo), hi, range);
}

export function xAxis(f: Frame, x: Scale, axis: AxisSpec): string {
  const fmt = axis.format ?? tickLabel;
  const ticks = (axis.ticks ?? x.ticks).map(
    (t) => `<line class="grid" x1="${px(x(t))}" x2="${px(x(t))}" y1="${f.top}" y2="${f.bottom}"/><text class="tick" x="${px(x(t))}" y="${f.bottom + 16}" text-anchor="middle">${esc(fmt(t))}</text>`,
  );
  const label = `<text class="axis-label" x="${px((f.left + f.right) / 2)}" y="${f.height - 10}" text-anchor="middle">${esc(axis.label)}</text>`;
  return `<g class="axis x">${ticks.join('')}<line class="axis-line" x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}"/>${label}</g>`;
}

export function yAxis(f: Frame, y: Scale, axis: AxisSpec): string {
  const fmt = axis.format ?? tickLabel;
  const ticks = (axis.ticks ?? y.ticks).map(
    (t) => `<line class="grid" x1="${f.left}" x2="${f.right}" y1="${px(y(t))}" y2="${px(y(t))}"/><text class="tick" x="${f.left - 6}" y="${px(y(t) + 4)}" text-anchor="end">${esc(fmt(t))}</text>`,
  );
  const mid = (f.top + f.bottom) / 2;
  const label = `<text class="axis-label" transform="translate(16 ${px(mid)}) rotate(-90)" text-anchor="middle">${esc(axis.label)}</text>`;
  return `<g class="axis y">${ticks.join('')}<line class="axis-line" x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${f.bottom}"/>${label}</g>`;
}

/** The <svg> element: `chart` names it for the report's test, `title` is what a screen reader says. */
export function svg(f: Frame, chart: string, title: string, body: string): string {
  return `<svg class="chart" data-chart="${esc(chart)}" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(title)}</title>${body}</svg>`;
}
