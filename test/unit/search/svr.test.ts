import { Matrix, solve } from 'ml-matrix';
import { smoSolve, smoStart } from '../../../src/search/svr';
import { Rng } from '../../../src/search/rng';

function rbfKernel(X: number[][], gamma: number): Float64Array {
  const n = X.length;
  const K = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const d = X[i].reduce((s, v, k) => s + (v - X[j][k]) ** 2, 0);
      K[i * n + j] = Math.exp(-gamma * d);
    }
  }
  return K;
}

function predictTrain(K: Float64Array, n: number, beta: Float64Array, bias: number): number[] {
  return Array.from({ length: n }, (_, i) => beta.reduce((s, b, j) => s + b * K[i * n + j], bias));
}

describe('SVR (epsilon 0) by SMO', () => {
  it('solves the two-point problem analytically', () => {
    // beta = (t, -t): minimise t^2 (1 - k) - t (y1 - y2), so t = (y1 - y2) / (2 (1 - k)), clipped at C
    const k = Math.exp(-0.5);
    const K = Float64Array.from([1, k, k, 1]);
    const y = [3, 1];
    const free = smoSolve(K, 2, 100, smoStart(y), 1e-10);
    const t = (y[0] - y[1]) / (2 * (1 - k));
    expect(free.beta[0]).toBeCloseTo(t, 8);
    expect(free.beta[1]).toBeCloseTo(-t, 8);
    expect(predictTrain(K, 2, free.beta, free.bias)).toEqual([expect.closeTo(3, 7), expect.closeTo(1, 7)]);

    const clipped = smoSolve(K, 2, 1, smoStart(y), 1e-10);
    expect(Array.from(clipped.beta)).toEqual([1, -1]);
    // with both at the bound, b lies anywhere between the two residual bounds: the middle
    const fx = [1 - k, k - 1];
    expect(clipped.bias).toBeCloseTo((y[0] - fx[0] + (y[1] - fx[1])) / 2, 10);
  });

  it('interpolates like the linear system K beta + b = y, sum beta = 0 when C does not bind', () => {
    const rng = new Rng([1, 2, 3, 5]);
    const X = Array.from({ length: 8 }, () => [rng.random(), rng.random()]);
    const y = X.map(([a, b]) => Math.sin(3 * a) + b * b);
    const n = X.length;
    const K = rbfKernel(X, 2);
    const sol = smoSolve(K, n, 1e6, smoStart(y), 1e-10);
    // bordered system [[K, 1], [1', 0]] [beta; b] = [y; 0]
    const A = Matrix.zeros(n + 1, n + 1);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) A.set(i, j, K[i * n + j]);
      A.set(i, n, 1);
      A.set(n, i, 1);
    }
    const x = solve(A, Matrix.columnVector([...y, 0])).getColumn(0);
    for (let i = 0; i < n; i++) expect(sol.beta[i]).toBeCloseTo(x[i], 5);
    expect(sol.bias).toBeCloseTo(x[n], 5);
    expect(sol.converged).toBe(true);
  });

  it('meets the KKT conditions when the box binds, and warm starts reach the same solution', () => {
    const rng = new Rng([4, 3, 2, 1]);
    const n = 60;
    const X = Array.from({ length: n }, () => [rng.random(), rng.random(), rng.random()]);
    const y = X.map(([a, b, c]) => 10 * a - 5 * b * c + (rng.random() - 0.5));
    const K = rbfKernel(X, 1 / 3);
    const C = 2;
    const cold = smoSolve(K, n, C, smoStart(y), 1e-8);
    const pred = predictTrain(K, n, cold.beta, cold.bias);
    expect(cold.beta.reduce((s, v) => s + v, 0)).toBeCloseTo(0, 9);
    let bound = 0;
    for (let i = 0; i < n; i++) {
      const b = cold.beta[i];
      const r = y[i] - pred[i];
      expect(Math.abs(b)).toBeLessThanOrEqual(C + 1e-12);
      if (b >= C) {
        expect(r).toBeGreaterThan(-1e-6);
        bound++;
      } else if (b <= -C) {
        expect(r).toBeLessThan(1e-6);
        bound++;
      } else expect(Math.abs(r)).toBeLessThan(1e-6);
    }
    expect(bound).toBeGreaterThan(0); // the test is about the binding case

    const warm = smoStart(y);
    for (const c of [0.5, 1, 1.5, 2]) smoSolve(K, n, c, warm, 1e-8);
    const again = smoSolve(K, n, C, warm, 1e-8);
    for (let i = 0; i < n; i++) expect(again.beta[i]).toBeCloseTo(cold.beta[i], 4);
  });
});
