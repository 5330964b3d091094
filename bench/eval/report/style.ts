// The report's stylesheet, inlined so that the file needs nothing else.
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --line: #d9d9de; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fafafa; }
header, main { max-width: 980px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 28px; }
h1 { margin: 0 0 4px; font-size: 28px; }
h2 { margin: 0 0 6px; font-size: 20px; }
.machine { margin: 0; font-weight: 600; }
.run, .method { color: var(--muted); font-size: 13px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin: 18px 0; }
.reading { font-size: 16px; margin: 0 0 10px; padding-left: 10px; border-left: 4px solid #4e79a7; }
figure { margin: 8px 0; }
svg.chart { display: block; width: 100%; height: auto; max-width: 760px; font-size: 12px; }
svg .grid { stroke: #ececf0; }
svg .axis-line { stroke: #9a9aa2; }
svg .tick { fill: var(--muted); }
svg .axis-label { fill: var(--ink); font-size: 13px; }
svg .line { fill: none; stroke-width: 2; }
svg .whisker { stroke-width: 1.5; stroke: #444; opacity: .7; }
svg .marker line { stroke: #d62728; stroke-dasharray: 4 3; }
svg .marker text { fill: #d62728; font-size: 12px; }
svg .value { fill: var(--ink); font-size: 12px; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; padding: 0; margin: 4px 0 0; font-size: 13px; }
.swatch { display: inline-block; width: 18px; height: 0; border-top: 3px solid var(--c); margin-right: 6px; vertical-align: middle; }
.swatch.dashed { border-top-style: dashed; }
.swatch.box { width: 12px; height: 12px; border: 0; background: var(--c); }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, thead th { text-align: left; }
details summary { cursor: pointer; color: var(--muted); font-size: 13px; }
`;
