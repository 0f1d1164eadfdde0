// Renders Vega-Lite specs to SVG in a child Node process (see charts.ts: vega and vega-lite are
// ES modules with top-level await, which CommonJS code cannot require and jest cannot import).
// stdin: JSON [{ id, spec }]; stdout: JSON [{ id, svg }]. Any failure exits non-zero with the
// chart's id on stderr.
import { compile } from 'vega-lite';
import { View, parse } from 'vega';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const charts = JSON.parse(input);
const out = [];
for (const { id, spec } of charts) {
  try {
    const vegaSpec = compile(spec).spec;
    const view = new View(parse(vegaSpec), { renderer: 'none' });
    out.push({ id, svg: await view.toSVG() });
    view.finalize();
  } catch (err) {
    process.stderr.write(`chart "${id}": ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify(out));
