// A bar chart of groups of bars (a subject, its bar per payload size), with
// whiskers for the spread. On a log axis, bars grow from a baseline (1 for
// ratios: up when slower than the yardstick, down when faster).
import { esc, frame, px, scaleFor, svg, yAxis, type AxisSpec } from './svg.js';

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly lo?: number;
  readonly hi?: number;
  readonly color: string;
  readonly note?: string;
  /** Written at the bar's end (a ratio, say). */
  readonly text?: string;
}

export interface BarGroup {
  readonly label: string;
  readonly bars: readonly Bar[];
}

export interface BarChartSpec {
  readonly chart: string;
  readonly title: string;
  readonly y: AxisSpec;
  readonly groups: readonly BarGroup[];
  /** Where bars start; a dashed line is drawn there when it has a label (for the legend to name). */
  readonly baseline?: { readonly value: number; readonly label?: string };
  readonly width?: number;
  readonly height?: number;
}

export function barChart(spec: BarChartSpec): string {
  const f = frame(spec.width, spec.height);
  const bars = spec.groups.flatMap((g) => g.bars).filter((b) => Number.isFinite(b.value) && (!spec.y.log || b.value > 0));
  const base = spec.baseline?.value ?? (spec.y.log ? undefined : 0);
  const y = scaleFor(spec.y, [...bars.flatMap((b) => [b.value, b.lo ?? b.value, b.hi ?? b.value]), ...(base !== undefined ? [base] : [])], [f.bottom, f.top]);
  const from = base ?? y.domain[0];
  const slot = (f.right - f.left) / Math.max(1, spec.groups.length);
  const body = spec.groups.map((g, gi) => {
    const shown = g.bars.filter((b) => bars.includes(b));
    const width = Math.min(56, (slot * 0.8) / Math.max(1, shown.length));
    const x0 = f.left + gi * slot + (slot - width * shown.length) / 2;
    const rects = shown.map((b, bi) => {
      const [top, bottom] = [Math.min(y(b.value), y(from)), Math.max(y(b.value), y(from))];
      const cx = x0 + bi * width + width / 2;
      const whisker = b.lo !== undefined && b.hi !== undefined && (!spec.y.log || b.lo > 0) ? `<line class="whisker" x1="${px(cx)}" x2="${px(cx)}" y1="${px(y(b.lo))}" y2="${px(y(b.hi))}"/>` : '';
      const tip = `${g.label}, ${b.label}: ${b.note ?? b.value}`;
      const up = y(b.value) <= y(from);
      const text = b.text ? `<text class="value" x="${px(cx + 6)}" y="${px(up ? top - 6 : bottom + 14)}">${esc(b.text)}</text>` : '';
      return `${text}<rect class="mark" x="${px(x0 + bi * width + 1)}" y="${px(top)}" width="${px(width - 2)}" height="${px(Math.max(1, bottom - top))}" fill="${b.color}"><title>${esc(tip)}</title></rect>${whisker}`;
    });
    const label = `<text class="tick group" x="${px(f.left + gi * slot + slot / 2)}" y="${f.bottom + 16}" text-anchor="middle">${esc(g.label)}</text>`;
    return `<g class="series" data-series="${esc(g.label)}">${rects.join('')}${label}</g>`;
  });
  const line = spec.baseline?.label
    ? `<g class="marker"><line x1="${f.left}" x2="${f.right}" y1="${px(y(from))}" y2="${px(y(from))}"><title>${esc(spec.baseline.label)}</title></line></g>`
    : `<line class="axis-line" x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}"/>`;
  return svg(f, spec.chart, spec.title, `${yAxis(f, y, spec.y)}${body.join('')}${line}`);
}
