import { Matrix, solve } from 'ml-matrix';
import { Predictor } from '../../../src/search/predictor';
import { Rng } from '../../../src/search/rng';

/** Rows of categorical columns: col 0 in {24, 28, 32}, cols 1..8 widths or 0 past the layer count / 4. */
function sampleRows(rng: Rng, n: number): number[][] {
  return Array.from({ length: n }, () => {
    const L = [24, 28, 32][rng.int(0, 2)];
    const active = L / 4;
    return [L, ...Array.from({ length: 8 }, (_, i) => (i < active ? [5504, 11008][rng.int(0, 1)] : 0))];
  });
}

const linear = (r: number[]) => 1e9 + r.slice(1).reduce((s, w) => s + 3e4 * w, 0); // size-like, exactly linear in one-hot
const nonlinear = (r: number[]) => {
  const wide = r.slice(1).filter((w) => w === 11008).length;
  const layers = r.slice(1).filter((w) => w > 0).length;
  return (
    0.3 +
    0.3 * Math.tanh(0.15 * layers + 0.1 * wide * wide * 0.1 + (r[1] === 11008 && r[2] === 11008 ? 0.2 : 0))
  );
};

describe('performance predictors', () => {
  it('ridge equals the closed-form solution with an unpenalised intercept', () => {
    const rng = new Rng([1, 1, 2, 3]);
    const rows = sampleRows(rng, 60);
    const y = rows.map((r) => nonlinear(r) + 0.01 * rng.random());
    const p = Predictor.fit(rows, y, { model: 'ridge', alphas: [0.7] });
    expect(p.report.model).toBe('ridge');
    expect(p.report.ridge?.alpha).toBe(0.7);

    // reference: one-hot (non-constant categories), labels scaled by 10^(floor(log10 max) - 1), centred solve
    const cols = rows[0]
      .map((_, c) => [...new Set(rows.map((r) => r[c]))].sort((a, b) => a - b))
      .filter((v) => v.length > 1);
    const colIdx = rows[0].map((_, c) => c).filter((c) => new Set(rows.map((r) => r[c])).size > 1);
    const onehot = (r: number[]): number[] =>
      colIdx.flatMap((c, k) => cols[k].map((v) => (r[c] === v ? 1 : 0)));
    const X = new Matrix(rows.map(onehot));
    const scale = 10 ** (Math.floor(Math.log10(Math.max(...y))) - 1);
    const ys = y.map((v) => v / scale);
    const mean = X.mean('column');
    const ym = ys.reduce((s, v) => s + v, 0) / ys.length;
    const Xc = X.clone().subRowVector(mean);
    const A = Xc.transpose().mmul(Xc).add(Matrix.eye(X.columns).mul(0.7));
    const w = solve(A, Xc.transpose().mmul(Matrix.columnVector(ys.map((v) => v - ym)))).getColumn(0);
    const b = ym - mean.reduce((s, m, j) => s + m * w[j], 0);
    const test = sampleRows(rng, 20);
    const expected = test.map((r) => (b + onehot(r).reduce((s, v, j) => s + v * w[j], 0)) * scale);
    p.predict(test).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 9));
  });

  it('picks the better model by CV error and predicts held-out points', () => {
    const rng = new Rng([5, 5, 5, 5]);
    const rows = sampleRows(rng, 120);
    const test = sampleRows(rng, 200);
    const lin = Predictor.fit(rows, rows.map(linear));
    expect(lin.report.model).toBe('ridge');
    expect(lin.report.cvMape).toBeLessThan(1e-3);
    const linPred = lin.predict(test);
    test.forEach((r, i) => expect(Math.abs(linPred[i] - linear(r)) / linear(r)).toBeLessThan(1e-3));

    const nl = Predictor.fit(rows, rows.map(nonlinear));
    expect(nl.report.ridge).not.toBeNull();
    expect(nl.report.svr).not.toBeNull();
    expect(nl.report.cvMape).toBe(Math.min(nl.report.ridge!.cvMape, nl.report.svr!.cvMape));
    expect(nl.report.model).toBe(nl.report.svr!.cvMape < nl.report.ridge!.cvMape ? 'svr' : 'ridge');
    const pred = nl.predict(test);
    const mape =
      test.reduce((s, r, i) => s + Math.abs(pred[i] - nonlinear(r)) / nonlinear(r), 0) / test.length;
    expect(mape).toBeLessThan(0.02);
  });

  it('forced SVR tunes C over the grid and reports it', () => {
    const rng = new Rng([2, 7, 1, 8]);
    const rows = sampleRows(rng, 50);
    const p = Predictor.fit(rows, rows.map(nonlinear), { model: 'svr', costs: [1, 5, 25] });
    expect(p.report.model).toBe('svr');
    expect(p.report.ridge).toBeNull();
    expect([1, 5, 25]).toContain(p.report.svr?.C);
  });

  it('encodes a value unseen in training as all zeros, and handles constant labels', () => {
    const rows = [
      [24, 5504],
      [24, 11008],
      [28, 5504],
      [28, 11008],
      [24, 5504],
      [28, 11008],
    ];
    const y = rows.map((r) => r[0] + r[1] / 1000);
    const p = Predictor.fit(rows, y, { model: 'ridge', alphas: [0.1] });
    const [seen, unseen] = p.predict([
      [24, 5504],
      [32, 5504],
    ]);
    expect(seen).toBeCloseTo(29.5, 0);
    expect(Number.isFinite(unseen)).toBe(true);
    const flat = Predictor.fit(
      rows,
      rows.map(() => 0.5),
    );
    expect(flat.predict([[28, 5504]])[0]).toBeCloseTo(0.5, 9);
    expect(() => Predictor.fit(rows.slice(0, 3), [1, 2, 3])).toThrow(/at least 5 samples/);
  });
});
