// A line chart: one line per series, a dot per measured point with whiskers
// from the lowest to the highest repetition, on linear or log axes.
import { esc, frame, px, scaleFor, svg, xAxis, yAxis, type AxisSpec } from './svg.js';

export interface LinePoint {
  readonly x: number;
  readonly y: number;
  /** The spread of the repetitions, drawn as a whisker. */
  readonly lo?: number;
  readonly hi?: number;
  /** Shown on hover. */
  readonly note?: string;
  /** Overrides the series' colour for this point (E4 colours each call by its transport). */
  readonly color?: string;
}

export interface LineSeries {
  readonly id: string;
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly LinePoint[];
}

export interface LineChartSpec {
  readonly chart: string;
  readonly title: string;
  readonly x: AxisSpec;
  readonly y: AxisSpec;
  readonly series: readonly LineSeries[];
  /** Vertical markers: a threshold, a switch. */
  readonly markers?: readonly { readonly x: number; readonly label: string }[];
  /** Joins the points with a line (off for a scatter of independent measurements). */
  readonly lines?: boolean;
  readonly width?: number;
  readonly height?: number;
}

/** Points with a value the axes can show: finite, and positive on a log axis. */
function drawable(spec: LineChartSpec, p: LinePoint): boolean {
  const ok = (v: number, log: boolean): boolean => Number.isFinite(v) && (!log || v > 0);
  return ok(p.x, spec.x.log) && ok(p.y, spec.y.log);
}

export function lineChart(spec: LineChartSpec): string {
  const f = frame(spec.width, spec.height);
  const points = spec.series.flatMap((s) => s.points.filter((p) => drawable(spec, p)));
  const x = scaleFor(spec.x, points.map((p) => p.x), [f.left + 12, f.right - 12]);
  const y = scaleFor(spec.y, points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), [f.bottom, f.top]);
  const clampY = (v: number): number => Math.min(f.bottom, Math.max(f.top, y(v)));
  const series = spec.series.map((s) => {
    const pts = s.points.filter((p) => drawable(spec, p));
    const path = spec.lines === false || pts.length < 2 ? '' : `<path class="line" d="M${pts.map((p) => `${px(x(p.x))},${px(y(p.y))}`).join('L')}" stroke="${s.color}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
    const marks = pts.map((p) => {
      const whisker = p.lo !== undefined && p.hi !== undefined && (spec.y.log ? p.lo > 0 : true) ? `<line class="whisker" x1="${px(x(p.x))}" x2="${px(x(p.x))}" y1="${px(clampY(p.lo))}" y2="${px(clampY(p.hi))}" stroke="${p.color ?? s.color}"/>` : '';
      const tip = `${s.label}: ${p.note ?? ''}`;
      return `${whisker}<circle class="mark" cx="${px(x(p.x))}" cy="${px(y(p.y))}" r="3.5" fill="${p.color ?? s.color}"><title>${esc(tip)}</title></circle>`;
    });
    return `<g class="series" data-series="${esc(s.id)}">${path}${marks.join('')}</g>`;
  });
  const markers = (spec.markers ?? [])
    .filter((m) => Number.isFinite(m.x))
    .map((m) => `<g class="marker"><line x1="${px(x(m.x))}" x2="${px(x(m.x))}" y1="${f.top}" y2="${f.bottom}"/><text x="${px(x(m.x) + 4)}" y="${f.top + 12}">${esc(m.label)}</text></g>`);
  return svg(f, spec.chart, spec.title, `${xAxis(f, x, spec.x)}${yAxis(f, y, spec.y)}${markers.join('')}${series.join('')}`);
}
