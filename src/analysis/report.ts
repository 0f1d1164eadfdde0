// writeReport: an Analysis to files: CSV + JSON for every table and front, the charts as SVG,
// analysis.json, and one self-contained report.html (inline CSS and SVG, no script, no network).
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil';
import { join, relative } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { Analysis, SummaryRow } from './analyse';
import { chartSpecs, renderCharts, slug, type RenderedChart } from './charts';
import { QUANT_LEVELS, type Quant } from './types';

export interface ReportFiles {
  dir: string;
  html: string;
  /** Every file written, relative to `dir`. */
  files: string[];
  charts: { id: string; title: string }[];
}

type Cell = string | number | boolean | null | undefined;

/** One CSV-ready row: nested objects become dotted columns, number arrays space-separated lists. */
function flatten(row: object, prefix = '', out: Record<string, Cell> = {}): Record<string, Cell> {
  for (const [k, v] of Object.entries(row)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (Array.isArray(v)) out[name] = v.join(' ');
    else if (v !== null && typeof v === 'object') flatten(v, name, out);
    else out[name] = v as Cell;
  }
  return out;
}

function toCsv(rows: readonly object[], columns?: string[]): string {
  const flat = rows.map((r) => flatten(r));
  const cols = columns ?? [...new Set(flat.flatMap((r) => Object.keys(r)))];
  if (!cols.length) return '';
  return stringify(
    flat.map((r) => cols.map((c) => r[c] ?? '')),
    { header: true, columns: cols, cast: { boolean: (b) => String(b) } },
  );
}

const QUANT_LABEL: Record<Quant, string> = { none: 'float', int8: 'INT8', int4: 'INT4' };

/** Rows like the paper's Tables 2 and 5: one row per (selection, quantization), per task a size and an accuracy column. */
export function summaryWide(analysis: Analysis): Record<string, string | number | null>[] {
  const label = (r: SummaryRow) => `${r.label} (${QUANT_LABEL[r.quant]})`;
  const order = (r: SummaryRow) =>
    QUANT_LEVELS.indexOf(r.quant) * 10 +
    ['full', 'best-accuracy', 'smallest-within-tolerance', 'heuristic'].indexOf(r.role);
  const labels = [
    ...new Map([...analysis.summary].sort((a, b) => order(a) - order(b)).map((r) => [label(r), r])).keys(),
  ];
  return labels.map((l) => {
    const row: Record<string, string | number | null> = { model: l };
    for (const task of analysis.tasks) {
      const r = analysis.summary.find((s) => s.task === task && label(s) === l);
      row[`${task} size (GiB)`] = r ? round(r.sizeGiB, 3) : null;
      row[`${task} accuracy (%)`] = r ? round(r.accuracy * 100, 2) : null;
    }
    return row;
  });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const esc = (s: unknown): string =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const fmt = {
  gib: (x: number | null) => (x === null ? '' : `${x.toFixed(2)}`),
  acc: (x: number | null) => (x === null ? '' : `${(x * 100).toFixed(2)}%`),
  delta: (x: number | null) => (x === null ? '' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pt`),
  ratio: (x: number | null) => (x === null ? '' : `${x.toFixed(2)}×`),
  num: (x: number | null, d = 1) => (x === null ? '' : x.toFixed(d)),
};

function table(headers: string[], rows: string[][], cls = ''): string {
  return (
    `<table class="${cls}"><thead><tr>${headers.map((h) => `<th${h === 'sub-network' ? ' class="key"' : ''}>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

function figure(c: RenderedChart): string {
  return (
    `<figure class="chart" id="chart-${esc(c.id)}" data-chart="${esc(c.id)}">` +
    `<figcaption><strong>${esc(c.title)}.</strong> ${esc(c.caption)}</figcaption>` +
    `<div class="svg">${c.svg}</div></figure>`
  );
}

const CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #1f3a5f; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 6px; font-size: 22px; }
header p { margin: 2px 0; opacity: 0.9; font-size: 14px; }
nav { padding: 8px 32px; background: #e8eef5; font-size: 14px; }
nav a { margin-right: 16px; color: #1f3a5f; }
main { padding: 8px 32px 40px; max-width: 1400px; }
h2 { border-bottom: 2px solid #1f3a5f; padding-bottom: 4px; margin-top: 32px; }
h3 { margin: 20px 0 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 0; padding: 10px; max-width: 100%; }
figure.chart figcaption { font-size: 12.5px; color: #444; max-width: 560px; margin-bottom: 6px; }
figure.chart .svg { overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; background: #fff; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f3f7; }
td:first-child, th:first-child { text-align: left; }
th.key { text-align: left; }
td.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11.5px; text-align: left; white-space: normal; word-break: break-all; max-width: 420px; }
.better { color: #1a7f37; font-weight: 600; }
.worse { color: #b42318; }
dl dt { font-weight: 600; margin-top: 8px; }
dl dd { margin-left: 16px; font-size: 14px; }
.note { font-size: 13px; color: #555; }
`;

function deltaCell(x: number | null): string {
  if (x === null) return '';
  const cls = x > 0 ? 'better' : x < 0 ? 'worse' : '';
  return `<span class="${cls}">${esc(fmt.delta(x))}</span>`;
}

/** A deployable model of a front point, as the campaign exported it (paths relative to the report). */
export interface ReportArtifact {
  task: string;
  front: string;
  key: string;
  layers: number;
  widths: string;
  quant: string;
  accuracy: number;
  onnx: string;
  onnxBytes: number;
  gguf: string;
  ggufType: string;
  ggufArchitecture: string;
  ggufBytes: number;
}

function artifactsSection(rows: readonly ReportArtifact[]): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return (
    `<section id="models"><h2>Models of the fronts</h2><p class="note">Each size-accuracy front point as ONNX ` +
    `(ONNX Runtime) and GGUF (llama.cpp, Ollama; <code>llama</code> for one MLP width, <code>deci</code> for per-layer widths).</p>` +
    `<table><tr><th>front</th><th>layers</th><th>widths</th><th>accuracy</th><th>ONNX</th><th>GGUF</th></tr>` +
    rows
      .map(
        (r) =>
          `<tr><td>${esc(r.front)}</td><td>${r.layers}</td><td>${esc(r.widths)}</td><td>${(100 * r.accuracy).toFixed(1)}%</td>` +
          `<td><a href="${esc(r.onnx)}">${esc(r.onnx)}</a> (${mib(r.onnxBytes)})</td>` +
          `<td><a href="${esc(r.gguf)}">${esc(r.gguf)}</a> (${esc(r.ggufArchitecture)}, ${esc(r.ggufType)}, ${mib(r.ggufBytes)})</td></tr>`,
      )
      .join('') +
    `</table></section>`
  );
}

function html(
  analysis: Analysis,
  charts: RenderedChart[],
  files: string[],
  artifacts?: readonly ReportArtifact[],
): string {
  const c = analysis.campaign;
  const byTask = (task: string, section: string) =>
    charts.filter((ch) => ch.section === section && ch.task === task);
  const parts: string[] = [];
  parts.push(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>LLaMA-NAS report: ${esc(c.name)}</title><style>${CSS}</style></head><body>`,
    `<header><h1>LLaMA-NAS report: ${esc(c.name)}</h1>`,
    `<p>Base model: ${esc(c.baseModel)} · ${analysis.fullModel.layers} layers, ${(analysis.fullModel.parameters / 1e9).toFixed(2)} B parameters, ` +
      `${fmt.gib(analysis.fullModel.sizeBytes / 1024 ** 3)} GiB</p>`,
    `<p>Campaign created ${esc(c.createdAt)} · tasks: ${analysis.tasks.map(esc).join(', ')} · ${analysis.evaluations.length} evaluations</p></header>`,
    `<nav><a href="#summary">Selected sub-networks</a><a href="#fronts">Pareto fronts</a><a href="#hypervolume">Hypervolume</a>` +
      `<a href="#layers">Layer counts</a><a href="#widths">Widths &amp; heuristics</a><a href="#definitions">Definitions</a><a href="#files">Files</a></nav><main>`,
  );

  // Summary tables.
  parts.push(`<section id="summary"><h2>Selected sub-networks against the full model</h2>`);
  const wide = summaryWide(analysis);
  if (wide.length) {
    const cols = Object.keys(wide[0]);
    parts.push(
      `<p class="note">Like the paper's Tables 2 (float) and 5 (float and quantized): size in GiB and accuracy per task.</p>`,
      table(
        cols,
        wide.map((r) =>
          cols.map((k) =>
            esc(
              r[k] === null
                ? '–'
                : typeof r[k] === 'number' && k.includes('accuracy')
                  ? `${(r[k] as number).toFixed(2)}%`
                  : r[k],
            ),
          ),
        ),
        'wide',
      ),
    );
  }
  for (const task of analysis.tasks) {
    const rows = analysis.summary.filter((s) => s.task === task);
    const count = analysis.counts.find((x) => x.task === task);
    parts.push(`<h3>${esc(task)}</h3>`);
    if (count) {
      parts.push(
        `<p class="note">${count.records} evaluations: ${count.searchFloat} distinct float search sub-networks, ` +
          `${count.quantized} quantized, ${count.heuristic} heuristic confirmations.</p>`,
      );
    }
    if (!rows.length) {
      parts.push(`<p class="note">No full-model or front evaluations for this task.</p>`);
      continue;
    }
    parts.push(
      table(
        [
          'model',
          'quant',
          'layers',
          'size (GiB)',
          'smaller',
          'accuracy',
          'Δ vs full',
          'throughput (tok/s)',
          'speed-up',
          'sub-network',
        ],
        rows.map((r) => [
          esc(r.label),
          esc(QUANT_LABEL[r.quant]),
          String(r.layers),
          fmt.gib(r.sizeGiB),
          fmt.ratio(r.sizeReduction),
          fmt.acc(r.accuracy) +
            (r.accuracyStderr !== null
              ? ` <span class="note">±${(r.accuracyStderr * 100).toFixed(2)}</span>`
              : ''),
          r.role === 'full' && r.quant === 'none' ? '' : deltaCell(r.accuracyDelta),
          fmt.num(r.throughput),
          fmt.ratio(r.speedup),
          `<span class="key">${esc(r.widths)}</span>`,
        ]),
      ).replace(/<td><span class="key">/g, '<td class="key"><span class="key">'),
    );
  }
  parts.push(`</section>`);

  // Fronts.
  parts.push(`<section id="fronts"><h2>Pareto fronts</h2>`);
  for (const task of analysis.tasks) {
    const figs = byTask(task, 'fronts');
    parts.push(`<h3>${esc(task)}</h3><div class="charts">${figs.map(figure).join('')}</div>`);
    if (!figs.some((f) => f.id.startsWith('front-throughput'))) {
      parts.push(
        `<p class="note">No throughput was measured for ${esc(task)}, so it has no throughput / accuracy chart.</p>`,
      );
    }
    for (const f of analysis.fronts.filter((f) => f.task === task)) {
      parts.push(
        `<details><summary>${esc(f.space)} front, ${esc(QUANT_LABEL[f.quant])}: ${f.points.length} sub-networks</summary>` +
          table(
            ['layers', 'size (GiB)', 'accuracy', 'throughput (tok/s)', 'origin', 'loop', 'sub-network'],
            f.points.map((p) => [
              String(p.layers),
              fmt.gib(p.sizeGiB),
              fmt.acc(p.accuracy),
              fmt.num(p.throughput),
              esc(p.origin),
              p.loop === null ? '' : String(p.loop),
              `<span class="key">${esc(p.widths)}</span>`,
            ]),
          ).replace(/<td><span class="key">/g, '<td class="key"><span class="key">') +
          `</details>`,
      );
    }
  }
  parts.push(`</section>`);

  // Hypervolume.
  parts.push(`<section id="hypervolume"><h2>Hypervolume per LINAS loop</h2>`);
  const hv = charts.filter((ch) => ch.section === 'hypervolume');
  if (hv.length) parts.push(`<div class="charts">${hv.map(figure).join('')}</div>`);
  else
    parts.push(
      `<p class="note">No evaluation carries a LINAS loop number, so there is no hypervolume history.</p>`,
    );
  parts.push(`</section>`);

  // Layer counts.
  parts.push(`<section id="layers"><h2>Layer-count probabilities</h2>`);
  parts.push(
    `<div class="charts">${charts
      .filter((ch) => ch.section === 'layers')
      .map(figure)
      .join('')}</div>`,
  );
  const layerOptions = [...new Set(analysis.layerProbabilities.map((r) => r.layers))].sort((a, b) => a - b);
  const layerGroups = [...new Set(analysis.layerProbabilities.map((r) => `${r.task}|${r.upperPercentile}`))];
  if (layerGroups.length) {
    parts.push(
      table(
        [
          'task',
          'upper percentile',
          'accuracy ≥',
          'sub-networks',
          ...layerOptions.map((l) => `P(${l} layers)`),
        ],
        layerGroups.map((g) => {
          const rows = analysis.layerProbabilities.filter((r) => `${r.task}|${r.upperPercentile}` === g);
          return [
            esc(rows[0].task),
            `${rows[0].upperPercentile}th`,
            fmt.acc(rows[0].threshold),
            String(rows[0].selected),
            ...layerOptions.map((l) => fmt.num(rows.find((r) => r.layers === l)?.probability ?? null, 2)),
          ];
        }),
      ),
    );
  }
  parts.push(`</section>`);

  // Widths and heuristics.
  parts.push(`<section id="widths"><h2>Per-layer width probabilities and heuristic architectures</h2>`);
  for (const task of analysis.tasks) {
    const figs = byTask(task, 'widths');
    if (!figs.length) continue;
    parts.push(`<h3>${esc(task)}</h3><div class="charts">${figs.map(figure).join('')}</div>`);
    const hs = analysis.heuristics.filter((h) => h.task === task);
    if (hs.length) {
      parts.push(
        table(
          [
            'layers',
            'upper percentile',
            'from',
            'small-width layers',
            'size (GiB)',
            'evaluated accuracy',
            'Δ vs full',
            'sub-network',
          ],
          hs.map((h) => [
            String(h.layers),
            `${h.upperPercentile}th`,
            `${h.selected} sub-networks`,
            esc(h.smallLayers.join(', ') || '(none)'),
            h.confirmation ? fmt.gib(h.confirmation.sizeGiB) : '',
            h.confirmation ? fmt.acc(h.confirmation.accuracy) : '<span class="note">not evaluated</span>',
            deltaCell(h.accuracyDelta),
            `<span class="key">${esc(h.widths)}</span>`,
          ]),
        ).replace(/<td><span class="key">/g, '<td class="key"><span class="key">'),
      );
    }
  }
  parts.push(
    `<p class="note">A heuristic architecture gives a layer its smallest width where that width is more probable than every other ` +
      `width among the sub-networks analysed, and the largest width elsewhere; the campaign evaluates it as a confirmation.</p></section>`,
  );

  if (artifacts?.length) parts.push(artifactsSection(artifacts));

  // Definitions and files.
  parts.push(
    `<section id="definitions"><h2>Definitions</h2><dl>` +
      Object.entries(analysis.definitions)
        .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
        .join('') +
      `</dl></section>`,
    `<section id="files"><h2>Files</h2><p class="note">Every table and front as CSV and JSON, beside this report:</p><ul>` +
      files.map((f) => `<li><a href="${esc(f)}">${esc(f)}</a></li>`).join('') +
      `</ul></section>`,
    `</main></body></html>\n`,
  );
  return parts.join('\n');
}

/**
 * Writes the report of `analysis` into `outDir` (created if missing): report.html,
 * analysis.json, tables/*.csv|json, fronts/*.csv|json and charts/*.svg. Each file is written
 * atomically (temporary file, then rename).
 */
export async function writeReport(
  analysis: Analysis,
  outDir: string,
  artifacts?: readonly ReportArtifact[],
): Promise<ReportFiles> {
  const charts = await renderCharts(chartSpecs(analysis));
  const files: string[] = [];
  const put = (rel: string, data: string) => {
    if (files.includes(rel))
      throw new Error(`two report files would be named ${rel} (task names that differ only in punctuation?)`);
    const path = join(outDir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileAtomic(path, data);
    files.push(relative(outDir, path));
  };
  const tablePair = (name: string, rows: readonly object[]) => {
    put(`tables/${name}.csv`, toCsv(rows));
    put(`tables/${name}.json`, JSON.stringify(rows, null, 2) + '\n');
  };

  tablePair('summary', analysis.summary);
  tablePair('summary-wide', summaryWide(analysis));
  tablePair('full-model', analysis.fullModelPoints);
  tablePair('hypervolume', analysis.hypervolume);
  tablePair('layer-probabilities', analysis.layerProbabilities);
  tablePair('width-probabilities', analysis.widthProbabilities);
  tablePair('heuristics', analysis.heuristics);
  tablePair('evaluations', analysis.evaluations);
  for (const f of analysis.fronts) {
    const name = `${slug(f.task)}.${f.space}.${f.quant}`;
    put(`fronts/${name}.csv`, toCsv(f.points));
    put(`fronts/${name}.json`, JSON.stringify(f, null, 2) + '\n');
  }
  for (const ch of charts) put(`charts/${ch.id}.svg`, ch.svg);
  put('analysis.json', JSON.stringify(analysis, null, 2) + '\n');
  if (artifacts) tablePair('models', artifacts);
  const listed = [...files];
  put('report.html', html(analysis, charts, listed, artifacts));
  return {
    dir: outDir,
    html: join(outDir, 'report.html'),
    files,
    charts: charts.map((ch) => ({ id: ch.id, title: ch.title })),
  };
}
