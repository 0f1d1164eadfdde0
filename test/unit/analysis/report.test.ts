import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse } from 'csv-parse/sync';
import { join } from 'node:path';
import { buildProgram } from '../../../cli/main';
import { analyseCampaign } from '../../../src/analysis/analyse';
import { chartSpecs } from '../../../src/analysis/charts';
import { loadCampaignResults } from '../../../src/analysis/load';
import { summaryWide, writeReport } from '../../../src/analysis/report';
import {
  CampaignResultsError,
  type CampaignResults,
  type EvaluationRecord,
} from '../../../src/analysis/types';
import { FIXTURE_PATH } from '../../fixtures/analysis/make-results';
import { tinyResults } from '../../fixtures/analysis/tiny';

const tmp = () => mkdtempSync(join(tmpdir(), 'llama-nas-analysis-'));

function readCsv(path: string): Record<string, string>[] {
  return parse(readFileSync(path, 'utf8'), { columns: true }) as Record<string, string>[];
}

describe('writeReport on the stored fixture', () => {
  const analysis = analyseCampaign(loadCampaignResults(FIXTURE_PATH));
  let dir: string;
  let html: string;

  beforeAll(async () => {
    dir = tmp();
    await writeReport(analysis, dir);
    html = readFileSync(join(dir, 'report.html'), 'utf8');
  });

  it('writes CSV and JSON for every table and front', () => {
    const tables = readdirSync(join(dir, 'tables')).sort();
    for (const t of [
      'summary',
      'summary-wide',
      'hypervolume',
      'layer-probabilities',
      'width-probabilities',
      'heuristics',
      'evaluations',
      'full-model',
    ]) {
      expect(tables).toEqual(expect.arrayContaining([`${t}.csv`, `${t}.json`]));
    }
    for (const f of analysis.fronts) {
      const base = join(dir, 'fronts', `${f.task}.${f.space}.${f.quant}`);
      const rows = readCsv(`${base}.csv`);
      expect(rows.map((r) => Number(r.accuracy))).toEqual(f.points.map((p) => p.accuracy));
      expect(rows.map((r) => r.key)).toEqual(f.points.map((p) => p.key));
      expect(JSON.parse(readFileSync(`${base}.json`, 'utf8'))).toEqual(JSON.parse(JSON.stringify(f)));
    }
    const layers = readCsv(join(dir, 'tables', 'layer-probabilities.csv'));
    expect(layers).toHaveLength(analysis.layerProbabilities.length);
    expect(Number(layers[0].probability)).toBe(analysis.layerProbabilities[0].probability);
    const heur = readCsv(join(dir, 'tables', 'heuristics.csv'));
    expect(heur[0]['subnet.intermediate'].split(' ').map(Number)).toEqual(
      analysis.heuristics[0].subnet.intermediate,
    );
    expect(JSON.parse(readFileSync(join(dir, 'analysis.json'), 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(analysis)),
    );
    // no temporary files are left behind
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes one self-contained HTML page with every chart inline as SVG', () => {
    const ids = chartSpecs(analysis).map((c) => c.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'front-size-mmlu',
        'front-throughput-mmlu',
        'front-size-arc_challenge',
        'hypervolume',
        'layer-probabilities',
      ]),
    );
    expect(ids).not.toContain('front-throughput-arc_challenge');
    const figures = [...html.matchAll(/<figure class="chart" id="chart-([^"]+)"[^>]*>([\s\S]*?)<\/figure>/g)];
    expect(figures.map((m) => m[1])).toEqual(expect.arrayContaining(ids));
    expect(figures).toHaveLength(ids.length);
    for (const [, , body] of figures)
      expect(body).toMatch(/<svg[^>]*class="marks"[\s\S]*role-mark[\s\S]*<\/svg>/);
    // nothing to fetch: no scripts, style sheets, images or fonts from elsewhere
    expect(html).not.toMatch(/<script|<link|<img|@import|url\((?!#)/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
    expect(html).toContain('upper p-th percentile');
  });

  it('lays out the summary like Tables 2 and 5', () => {
    const wide = summaryWide(analysis);
    expect(wide[0].model).toBe('Full model (float)');
    expect(wide[0]['mmlu size (GiB)']).toBeCloseTo(12.551, 3);
    expect(wide.map((r) => r.model)).toEqual(
      expect.arrayContaining(['Best accuracy (float)', 'Best accuracy (INT8)']),
    );
    expect(html).toContain('Best accuracy (INT8)');
  });
});

describe('writeReport on sparse campaigns', () => {
  const rec = (
    task: string,
    w: number[],
    accuracy: number,
    extra: Partial<EvaluationRecord> = {},
  ): EvaluationRecord => ({
    task,
    subnet: { layers: w.length, intermediate: w },
    key: w.join('-'),
    accuracy,
    parameters: 100 + w.reduce((a, b) => a + b, 0),
    sizeBytes: 200 + 2 * w.reduce((a, b) => a + b, 0),
    quant: 'none',
    ...extra,
  });
  const results: CampaignResults = {
    campaign: { name: 'sparse', baseModel: 'm', createdAt: '2026-01-01' },
    fullModel: {
      parameters: 164,
      sizeBytes: 328,
      layers: 2,
      layerOptions: [1, 2],
      intermediateOptions: [16, 32],
    },
    records: [
      rec('a', [32, 32], 0.5, { isFull: true }),
      rec('a', [16], 0.4),
      rec('b', [32, 32], 0.3, { isFull: true }),
    ],
  };

  it('reports what there is: no width, hypervolume or throughput charts without their data', async () => {
    const out = await writeReport(analyseCampaign(results), tmp());
    expect(out.charts.map((c) => c.id)).toEqual(['front-size-a', 'layer-probabilities']);
    const html = readFileSync(out.html, 'utf8');
    expect(html).toContain('no hypervolume history');
    expect(html).toContain('No throughput was measured for a');
  });

  it('writes an empty report for a campaign without evaluations', async () => {
    const out = await writeReport(analyseCampaign({ ...results, records: [] }), tmp());
    expect(out.charts).toEqual([]);
    expect(readFileSync(join(out.dir, 'tables', 'summary.csv'), 'utf8')).toBe('');
  });
});

describe('loading campaign results', () => {
  it('reads a folder holding results.json and a file alike', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'results.json'), JSON.stringify(tinyResults()));
    expect(loadCampaignResults(dir).records).toHaveLength(tinyResults().records.length);
    expect(loadCampaignResults(join(dir, 'results.json')).campaign.name).toBe('tiny');
  });

  it('names the file, line and field of a mistake', () => {
    const dir = tmp();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{\n  "campaign": {\n  "name": x\n}');
    expect(() => loadCampaignResults(bad)).toThrow(/bad\.json: not valid JSON \(line 3/);
    const results = tinyResults() as unknown as { records: Record<string, unknown>[] };
    results.records[2].accuracy = 1.5;
    (results.records[4].subnet as { intermediate: number[] }).intermediate = [8];
    writeFileSync(bad, JSON.stringify(results));
    let err: Error | undefined;
    try {
      loadCampaignResults(bad);
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(CampaignResultsError);
    expect(err?.message).toContain(bad);
    expect(err?.message).toMatch(/records\[2\]\.accuracy/);
    expect(err?.message).toMatch(
      /records\[4\]\.subnet\.intermediate: intermediate must list exactly one width per active layer/,
    );
    expect(() => loadCampaignResults(join(dir, 'missing'))).toThrow(/no such file or folder/);
    mkdirSync(join(dir, 'empty'));
    expect(() => loadCampaignResults(join(dir, 'empty'))).toThrow(/folder without results\.json/);
  });
});

describe('llama-nas report', () => {
  it('writes the report of a campaign folder', async () => {
    const campaign = tmp();
    writeFileSync(join(campaign, 'results.json'), JSON.stringify(tinyResults()));
    const out = join(campaign, 'report');
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await buildProgram().parseAsync(['node', 'llama-nas', 'report', campaign, '--out', out]);
    } finally {
      log.mockRestore();
    }
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('LLaMA-NAS report: tiny');
    expect(readCsv(join(out, 'tables', 'summary.csv')).map((r) => r.role)).toContain('best-accuracy');
  });

  it('turns a bad campaign into a usage error', async () => {
    await expect(
      buildProgram().parseAsync(['node', 'llama-nas', 'report', '/nonexistent/campaign', '--out', tmp()]),
    ).rejects.toMatchObject({
      name: 'UsageError',
      exitCode: 2,
    });
    await expect(
      buildProgram().parseAsync([
        'node',
        'llama-nas',
        'report',
        FIXTURE_PATH,
        '--out',
        tmp(),
        '--tolerance',
        '-1',
      ]),
    ).rejects.toMatchObject({
      name: 'UsageError',
    });
  });
});
