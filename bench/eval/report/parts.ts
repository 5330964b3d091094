// The HTML pieces every section of the report is made of.
import { esc } from './svg.js';

export interface SectionSpec {
  readonly id: string;
  readonly title: string;
  /** The one-line reading computed from the data. */
  readonly reading: string;
  /** What was measured and how, in a sentence or two. */
  readonly method: string;
  /** Charts (SVG) and tables, in order. */
  readonly figures: readonly string[];
  /** The full figures behind the charts. */
  readonly details?: string;
}

export function section(s: SectionSpec): string {
  const details = s.details ? `<details><summary>All figures</summary>${s.details}</details>` : '';
  return `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2><p class="reading">${esc(s.reading)}</p>${s.figures.join('')}<p class="method">${esc(s.method)}</p>${details}</section>`;
}

export interface LegendItem {
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
}

/** A chart with its legend below it: line swatches, or squares for bars. */
export function figure(chartSvg: string, legend: readonly LegendItem[] = [], shape: 'line' | 'box' = 'line'): string {
  const items = legend.map((l) => `<li><span class="swatch ${shape}${l.dashed ? ' dashed' : ''}" style="--c:${esc(l.color)}"></span>${esc(l.label)}</li>`);
  return `<figure>${chartSvg}${items.length ? `<ul class="legend">${items.join('')}</ul>` : ''}</figure>`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[], chart?: string): string {
  const head = `<thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`;
  const body = rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`).join('');
  return `<table${chart ? ` data-chart="${esc(chart)}"` : ''}>${head}<tbody>${body}</tbody></table>`;
}
