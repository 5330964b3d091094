// The report: one self-contained HTML file (inline CSS and SVG, no script,
// nothing fetched), one section per experiment that ran.
import { describeMachine } from '../machine.js';
import type { Results } from '../results.js';
import { e3Section, e4Section, e5Section } from './sections-flow.js';
import { e1Section, e2Section, peersSection } from './sections-latency.js';
import { esc } from './svg.js';
import { REPORT_CSS } from './style.js';

export function renderReport(r: Results): string {
  const reps = r.budget.latency.reps;
  const sections = [
    r.e1 && e1Section(r.e1, reps),
    r.e2 && e2Section(r.e2, reps),
    r.e3 && e3Section(r.e3, reps),
    r.e4 && e4Section(r.e4),
    r.e5 && e5Section(r.e5, reps),
    r.peers && peersSection(r.peers, reps),
  ].filter((s): s is string => typeof s === 'string');
  const when = new Date(r.startedAt).toUTCString();
  const mode = r.budget.mode === 'full' ? 'full run' : `${r.budget.mode} run (fewer, shorter repetitions)`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fos evaluation — ${esc(r.machine.cpu)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1>fos evaluation</h1>
<p class="machine">${esc(describeMachine(r.machine))}</p>
<p class="run">${esc(mode)}, ${esc(when)}, ${r.seconds.toFixed(0)} s of measuring. Every figure is the median of ${reps} repetitions, shown with the range between them; every ratio compares two figures of this same run. The data: <a href="results.json">results.json</a>.</p>
</header>
<main>
${sections.join('\n')}
</main>
</body>
</html>
`;
}
