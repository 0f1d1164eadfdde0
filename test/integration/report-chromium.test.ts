// Opens the report of the stored results fixture in Debian's headless Chromium: every chart
// has rendered an <svg> with marks, the page logs no error and loads nothing from the network,
// and a screenshot is saved (LLAMA_NAS_TEST_ARTIFACTS, default a temporary folder).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const ROOT = resolve(__dirname, '..', '..');
const CHROMIUM = process.env.LLAMA_NAS_CHROMIUM ?? '/usr/bin/chromium';
const FIXTURE = join(ROOT, 'test', 'fixtures', 'analysis');

describe('the HTML report in headless Chromium', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('renders every chart, logs no error, loads nothing remote, and is saved as a screenshot', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}. Install Debian's package (apt-get install chromium; ` +
          'scripts/provision.sh does it as root) or set LLAMA_NAS_CHROMIUM.',
      );
    }
    const work = mkdtempSync(join(tmpdir(), 'llama-nas-report-'));
    const out = join(work, 'report');
    // The real command line, as a user runs it, on the campaign folder holding results.json.
    const stdout = execFileSync(
      process.execPath,
      [join(ROOT, 'bin', 'llama-nas.js'), 'report', FIXTURE, '--out', out],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(stdout).toContain('report.html');
    const analysis = JSON.parse(readFileSync(join(out, 'analysis.json'), 'utf8')) as { tasks: string[] };
    expect(analysis.tasks).toEqual(['mmlu', 'arc_challenge']);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));

    const url = pathToFileURL(join(out, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });

    // Two front charts for mmlu (size and throughput), one for arc_challenge (no throughput),
    // hypervolume, layer probabilities, and the width heat maps.
    const charts = await page.$$eval('figure.chart', (figs) =>
      figs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return {
          id: f.getAttribute('data-chart') ?? '',
          svg: !!svg,
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          // vega draws data marks inside groups of class role-mark; count their drawn shapes
          marks: f.querySelectorAll(
            'svg g.role-mark > path, svg g.role-mark > rect, svg g.role-mark > g > path',
          ).length,
          axes: f.querySelectorAll('svg g.role-axis').length,
        };
      }),
    );
    const ids = charts.map((c) => c.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'front-size-mmlu',
        'front-throughput-mmlu',
        'front-size-arc_challenge',
        'hypervolume',
        'layer-probabilities',
        'widths-mmlu-L24',
      ]),
    );
    expect(ids).not.toContain('front-throughput-arc_challenge');
    const written = readFileSync(join(out, 'report.html'), 'utf8').match(/<figure class="chart"/g) ?? [];
    expect(charts).toHaveLength(written.length);
    for (const c of charts) {
      expect({ id: c.id, svg: c.svg }).toEqual({ id: c.id, svg: true });
      expect(c.width).toBeGreaterThan(100);
      expect(c.height).toBeGreaterThan(50);
      expect(c.marks).toBeGreaterThan(0);
      expect(c.axes).toBeGreaterThan(0);
    }
    // The layer-probability chart draws one bar per (percentile, task, layer count).
    const bars = charts.find((c) => c.id === 'layer-probabilities');
    expect(bars?.marks).toBe(3 * 2 * 3);

    expect(problems).toEqual([]);
    expect(requests.filter((r) => !r.startsWith('file://'))).toEqual([]);

    const shots = process.env.LLAMA_NAS_TEST_ARTIFACTS ?? join(work, 'screenshots');
    mkdirSync(shots, { recursive: true });
    const shot = join(shots, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    for (const section of ['summary', 'fronts', 'hypervolume', 'layers', 'widths']) {
      await page.locator(`#${section}`).screenshot({ path: join(shots, `report-${section}.png`) });
    }
    console.log(`report screenshots in ${shots}`);
  });
});
