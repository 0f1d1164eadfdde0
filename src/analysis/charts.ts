// The report's charts as Vega-Lite specs, and their rendering to SVG with vega (in a child
// process: render-svg.mjs).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Analysis, PointRow } from './analyse';
import type { Quant } from './types';

export interface ChartSpec {
  /** Unique, file-name safe. */
  id: string;
  title: string;
  caption: string;
  section: 'fronts' | 'hypervolume' | 'layers' | 'widths';
  task?: string;
  spec: Record<string, unknown>;
}

export interface RenderedChart extends ChartSpec {
  svg: string;
}

const QUANT_LABEL: Record<Quant, string> = { none: 'float', int8: 'INT8', int4: 'INT4' };
const FRONT_COLORS: Record<string, string> = {
  'front (float)': '#2ca02c',
  'front (INT8)': '#1f77b4',
  'front (INT4)': '#9467bd',
  'full model (float)': '#d62728',
  'full model (INT8)': '#ff7f0e',
  'full model (INT4)': '#8c564b',
  'other evaluations': '#9e9e9e',
};
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
const CONFIG = {
  font: FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
};

/** Turns a task name into a file-name and id safe slug. */
export function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

function pct(x: number): number {
  return Math.round(x * 10000) / 100;
}

function frontChart(
  analysis: Analysis,
  task: string,
  space: 'size-accuracy' | 'throughput-accuracy',
): ChartSpec | null {
  const xTitle = space === 'size-accuracy' ? 'model size (GiB)' : 'throughput (tokens/s)';
  const value = (p: PointRow) => (space === 'size-accuracy' ? p.sizeGiB : p.throughput);
  const fronts = analysis.fronts.filter((f) => f.task === task && f.space === space);
  if (!fronts.length) return null;
  const row = (p: PointRow, series: string) => ({
    series,
    x: value(p),
    accuracy: pct(p.accuracy),
    key: p.key,
    layers: p.layers,
  });
  const onFront = new Set(fronts.flatMap((f) => f.points.map((p) => `${p.quant}|${p.key}|${p.sizeBytes}`)));
  const others = analysis.evaluations
    .filter((p) => p.task === task && p.origin !== 'full' && value(p) !== null)
    .filter((p) => !onFront.has(`${p.quant}|${p.key}|${p.sizeBytes}`))
    .map((p) => row(p, 'other evaluations'));
  const frontRows = fronts.flatMap((f) => f.points.map((p) => row(p, `front (${QUANT_LABEL[f.quant]})`)));
  const fullRows = analysis.fullModelPoints
    .filter((p) => p.task === task && value(p) !== null)
    .map((p) => row(p, `full model (${QUANT_LABEL[p.quant]})`));
  const series = [
    ...new Set([
      ...(others.length ? ['other evaluations'] : []),
      ...frontRows.map((r) => r.series),
      ...fullRows.map((r) => r.series),
    ]),
  ];
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: series, range: series.map((s) => FRONT_COLORS[s]) },
    legend: { orient: 'bottom', columns: 3 },
  };
  const x = { field: 'x', type: 'quantitative', title: xTitle, scale: { zero: false, nice: true } };
  const y = {
    field: 'accuracy',
    type: 'quantitative',
    title: `${task} accuracy (%)`,
    scale: { zero: false, nice: true },
  };
  const tooltip = [
    { field: 'key' },
    { field: 'x', title: xTitle },
    { field: 'accuracy', title: 'accuracy (%)' },
  ];
  const spaceName = space === 'size-accuracy' ? 'size' : 'throughput';
  return {
    id: `front-${spaceName}-${slug(task)}`,
    title: `${task}: ${spaceName} / accuracy`,
    caption:
      `Pareto fronts of ${task} in the ${spaceName === 'size' ? 'model size' : 'throughput'} / accuracy space, ` +
      `float and quantized together; grey dots are the other evaluations, diamonds the full model (red: float).`,
    section: 'fronts',
    task,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 440,
      height: 300,
      config: CONFIG,
      layer: [
        {
          data: { values: others },
          mark: { type: 'point', filled: true, size: 22, opacity: 0.45 },
          encoding: { x, y, color, tooltip },
        },
        {
          data: { values: frontRows },
          mark: {
            type: 'line',
            point: { filled: true, size: 45 },
            interpolate: space === 'size-accuracy' ? 'step-after' : 'step-before',
            strokeWidth: 2,
          },
          encoding: { x, y, color, detail: { field: 'series' }, tooltip },
        },
        {
          data: { values: fullRows },
          mark: {
            type: 'point',
            shape: 'diamond',
            filled: true,
            size: 140,
            stroke: 'black',
            strokeWidth: 0.8,
          },
          encoding: { x, y, color, tooltip },
        },
      ],
      resolve: { scale: { color: 'shared' } },
    },
  };
}

function hypervolumeChart(analysis: Analysis): ChartSpec | null {
  if (!analysis.hypervolume.length) return null;
  const values = analysis.hypervolume.map((h) => ({
    loop: h.loop,
    hypervolume: h.hypervolume,
    series: h.source === 'computed' ? h.task : `${h.task} (campaign)`,
  }));
  return {
    id: 'hypervolume',
    title: 'Hypervolume per LINAS loop',
    caption:
      'Hypervolume of the float size/accuracy front after each LINAS loop (computed: reference point (1, 0) ' +
      'in (size / full-model size, accuracy)); series marked "(campaign)" are the values the campaign reported.',
    section: 'hypervolume',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 440,
      height: 260,
      config: CONFIG,
      data: { values },
      mark: { type: 'line', point: { filled: true, size: 50 } },
      encoding: {
        x: { field: 'loop', type: 'ordinal', title: 'LINAS loop', axis: { labelAngle: 0 } },
        y: { field: 'hypervolume', type: 'quantitative', title: 'hypervolume', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: 'task', legend: { orient: 'bottom' } },
        tooltip: [{ field: 'series' }, { field: 'loop' }, { field: 'hypervolume', format: '.5f' }],
      },
    },
  };
}

function layerChart(analysis: Analysis): ChartSpec | null {
  if (!analysis.layerProbabilities.length) return null;
  const values = analysis.layerProbabilities.map((r) => ({
    task: r.task,
    percentile: `upper ${r.upperPercentile}th percentile`,
    order: -r.upperPercentile,
    layers: String(r.layers),
    probability: r.probability,
    count: r.count,
    selected: r.selected,
  }));
  const percentiles = [...new Set(values.map((v) => v.percentile))];
  const layerOptions = [...new Set(analysis.layerProbabilities.map((r) => r.layers))]
    .sort((a, b) => a - b)
    .map(String);
  return {
    id: 'layer-probabilities',
    title: 'Layer-count probabilities',
    caption:
      'Probability of each layer count among the float search sub-networks whose accuracy is in the upper ' +
      `${percentiles.map((p) => p.replace(/^upper | percentile$/g, '')).join(', ')} percentile, per task (like the paper's Figure 6).`,
    section: 'layers',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      config: CONFIG,
      data: { values },
      facet: {
        column: {
          field: 'percentile',
          type: 'nominal',
          title: null,
          sort: percentiles,
          header: { labelFontSize: 12 },
        },
      },
      spec: {
        width: 220,
        height: 220,
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'task', type: 'nominal', title: null, axis: { labelAngle: 0 } },
          xOffset: { field: 'layers', type: 'nominal', sort: layerOptions },
          y: { field: 'probability', type: 'quantitative', scale: { domain: [0, 1] }, title: 'probability' },
          color: {
            field: 'layers',
            type: 'nominal',
            sort: layerOptions,
            title: 'layers',
            scale: { scheme: 'tableau10' },
          },
          tooltip: [
            { field: 'task' },
            { field: 'layers' },
            { field: 'probability', format: '.2f' },
            { field: 'count' },
            { field: 'selected' },
          ],
        },
      },
    },
  };
}

function widthCharts(analysis: Analysis): ChartSpec[] {
  const groups = new Map<string, { task: string; layers: number }>();
  for (const r of analysis.widthProbabilities)
    groups.set(`${r.task}|${r.layers}`, { task: r.task, layers: r.layers });
  return [...groups.values()].map(({ task, layers }) => {
    const rows = analysis.widthProbabilities.filter((r) => r.task === task && r.layers === layers);
    const percentiles = [...new Set(rows.map((r) => r.upperPercentile))];
    const values = rows.map((r) => ({
      percentile: `upper ${r.upperPercentile}th (n=${r.selected})`,
      layer: r.layer,
      width: String(r.width),
      probability: r.probability,
    }));
    const rowLabels = percentiles.map(
      (p) => `upper ${p}th (n=${rows.find((r) => r.upperPercentile === p)?.selected ?? 0})`,
    );
    const widths = [...new Set(rows.map((r) => r.width))].sort((a, b) => a - b).map(String);
    return {
      id: `widths-${slug(task)}-L${layers}`,
      title: `${task}: widths of ${layers}-layer sub-networks`,
      caption:
        `Probability that layer i has each MLP width, among the ${layers}-layer float search sub-networks of ${task} ` +
        `in the upper ${percentiles.join(', ')}th percentiles; rows are the widths (like the paper's Figures 7-9).`,
      section: 'widths' as const,
      task,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        config: { ...CONFIG, facet: { spacing: 8 } },
        data: { values },
        facet: {
          row: {
            field: 'percentile',
            type: 'nominal',
            title: null,
            sort: rowLabels,
            header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 11 },
          },
        },
        spec: {
          width: Math.max(320, layers * 18),
          height: widths.length * 18,
          mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
          encoding: {
            x: { field: 'layer', type: 'ordinal', title: 'layer', axis: { labelAngle: 0 } },
            y: { field: 'width', type: 'ordinal', sort: widths, title: null },
            color: {
              field: 'probability',
              type: 'quantitative',
              scale: { domain: [0, 1], scheme: 'blues' },
              title: 'probability',
              legend: { orient: 'right' },
            },
            tooltip: [{ field: 'layer' }, { field: 'width' }, { field: 'probability', format: '.2f' }],
          },
        },
      },
    };
  });
}

/** Every chart of the report, in report order; the throughput chart only where throughput was measured. */
export function chartSpecs(analysis: Analysis): ChartSpec[] {
  const charts: ChartSpec[] = [];
  for (const task of analysis.tasks) {
    for (const space of ['size-accuracy', 'throughput-accuracy'] as const) {
      const c = frontChart(analysis, task, space);
      if (c) charts.push(c);
    }
  }
  const hv = hypervolumeChart(analysis);
  if (hv) charts.push(hv);
  const layers = layerChart(analysis);
  if (layers) charts.push(layers);
  charts.push(...widthCharts(analysis));
  return charts;
}

export class ChartRenderError extends Error {
  override name = 'ChartRenderError';
}

/** Renders the specs to SVG with vega + vega-lite in one child Node process. */
export function renderCharts(charts: readonly ChartSpec[]): Promise<RenderedChart[]> {
  if (!charts.length) return Promise.resolve([]);
  const script = join(__dirname, 'render-svg.mjs');
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [script],
      { maxBuffer: 256 * 1024 * 1024, cwd: join(__dirname, '..', '..') },
      (err, stdout, stderr) => {
        if (err) {
          reject(new ChartRenderError(`rendering the charts failed: ${stderr.trim() || err.message}`));
          return;
        }
        try {
          const svgs = JSON.parse(stdout) as { id: string; svg: string }[];
          const byId = new Map(svgs.map((s) => [s.id, s.svg]));
          resolve(
            charts.map((c) => {
              const svg = byId.get(c.id);
              if (!svg) throw new ChartRenderError(`chart "${c.id}" was not rendered`);
              return { ...c, svg };
            }),
          );
        } catch (e) {
          reject(
            e instanceof ChartRenderError
              ? e
              : new ChartRenderError(`bad renderer output: ${(e as Error).message}`),
          );
        }
      },
    );
    child.stdin?.end(JSON.stringify(charts.map((c) => ({ id: c.id, spec: c.spec }))));
  });
}
