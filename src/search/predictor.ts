import { EigenvalueDecomposition } from 'ml-matrix';
import { smoSolve, smoStart } from './svr';

/**
 * Performance predictors of LINAS, as DyNAS-T's Predictor: labels divided by
 * 10^(floor(log10(max|y|)) - 1); Ridge (alpha 0.1..10 step 0.1) and RBF SVR (gamma 'auto',
 * epsilon 0, C 1..100) each tuned by 5-fold cross-validation (contiguous folds, as sklearn's
 * GridSearchCV) on mean absolute percentage error; the one with the better CV error is used.
 *
 * Features: categorical columns (the layer count, then each layer's width or 0 when inactive)
 * one-hot encoded over the values seen in the training data, constant columns dropped (DyNAS-T
 * drops zero-variance features); a value not seen in training encodes as all zeros. The
 * encoding is fitted once on all training rows and shared by the CV folds.
 *
 * Deviation for speed (documented in README): the SVR sweep over C warm-starts each C from the
 * previous C's solution in the same fold, and the kernel matrix is computed once; Ridge's alpha
 * sweep reuses one eigen-decomposition per fold. Both give the same solutions as cold fits (up
 * to the solver tolerance).
 */
export const RIDGE_ALPHAS = Array.from({ length: 100 }, (_, i) => Math.round((i + 1) * 10) / 100);
export const SVR_COSTS = Array.from({ length: 100 }, (_, i) => i + 1);

export interface PredictorOptions {
  folds: number;
  alphas: number[];
  costs: number[];
  /** 'auto' chooses by CV error; the others force one model (its hyper-parameter still tuned). */
  model: 'auto' | 'ridge' | 'svr';
}

export const PREDICTOR_DEFAULTS: PredictorOptions = {
  folds: 5,
  alphas: RIDGE_ALPHAS,
  costs: SVR_COSTS,
  model: 'auto',
};

/** What a fit reports: the CV errors (MAPE, as fractions) and the chosen model. */
export interface PredictorReport {
  model: 'ridge' | 'svr';
  /** Best alpha and its CV error; null when the model was not tried. */
  ridge: { alpha: number; cvMape: number } | null;
  svr: { C: number; cvMape: number } | null;
  cvMape: number;
  samples: number;
}

interface Encoding {
  /** Kept raw columns and their categories (sorted). */
  columns: number[];
  categories: Map<number, number>[];
  offsets: number[];
  nFeatures: number;
}

function fitEncoding(rows: number[][]): Encoding {
  const nCols = rows[0].length;
  const columns: number[] = [];
  const categories: Map<number, number>[] = [];
  const offsets: number[] = [];
  let nFeatures = 0;
  for (let c = 0; c < nCols; c++) {
    const values = [...new Set(rows.map((r) => r[c]))].sort((a, b) => a - b);
    if (values.length < 2) continue;
    columns.push(c);
    categories.push(new Map(values.map((v, i) => [v, i])));
    offsets.push(nFeatures);
    nFeatures += values.length;
  }
  return { columns, categories, offsets, nFeatures };
}

/** Category index per kept column (-1 for a value not seen in training). */
function encodeCodes(enc: Encoding, row: ArrayLike<number>, out: Int16Array, at: number): void {
  for (let k = 0; k < enc.columns.length; k++) out[at + k] = enc.categories[k].get(row[enc.columns[k]]) ?? -1;
}

let POPCOUNT16: Uint8Array | undefined;
function popcount16(): Uint8Array {
  if (!POPCOUNT16) {
    POPCOUNT16 = new Uint8Array(65536);
    for (let i = 1; i < 65536; i++) POPCOUNT16[i] = (i & 1) + POPCOUNT16[i >> 1];
  }
  return POPCOUNT16;
}

function oneHotBits(enc: Encoding, codes: Int16Array, at: number, out: Uint16Array, outAt: number): void {
  for (let k = 0; k < enc.columns.length; k++) {
    const c = codes[at + k];
    if (c < 0) continue;
    const f = enc.offsets[k] + c;
    out[outAt + (f >> 4)] |= 1 << (f & 15);
  }
}

/** Squared distance between two one-hot rows given their codes. */
function sqDist(a: Int16Array, ai: number, b: Int16Array, bi: number, p: number): number {
  let d = 0;
  for (let k = 0; k < p; k++) {
    const x = a[ai + k];
    const y = b[bi + k];
    if (x !== y) d += x < 0 || y < 0 ? 1 : 2;
  }
  return d;
}

function mape(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < truth.length; i++)
    s += Math.abs(truth[i] - pred[i]) / Math.max(Math.abs(truth[i]), 2.220446049250313e-16);
  return s / truth.length;
}

function kFold(n: number, k: number): number[][] {
  const folds: number[][] = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    folds.push(Array.from({ length: size }, (_, i) => start + i));
    start += size;
  }
  return folds;
}

function labelScale(y: number[]): number {
  const max = Math.max(...y.map(Math.abs));
  return max > 0 ? Math.pow(10, Math.floor(Math.log10(max)) - 1) : 1;
}

interface RidgeFit {
  intercept: number;
  /** weight per feature (one-hot index) */
  weights: Float64Array;
}

/** Ridge with intercept (centred features, unpenalised intercept) for several alphas at once. */
class RidgePath {
  /** Eigenvectors of Xc'Xc as rows of V (V[j][k]: feature j, eigenvector k). */
  private readonly V: number[][];
  private readonly lambda: number[];
  private readonly z: number[];
  readonly xMean: Float64Array;
  readonly yMean: number;

  constructor(X: Float64Array[], y: number[]) {
    const n = X.length;
    const p = X[0].length;
    this.xMean = new Float64Array(p);
    for (const row of X) for (let j = 0; j < p; j++) this.xMean[j] += row[j] / n;
    this.yMean = y.reduce((s, v) => s + v, 0) / n;
    // Xc'Xc = X'X - n m m' and Xc'(y - ym) = X'(y - ym), accumulated over the sparse one-hot rows
    const A: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    const xty = new Float64Array(p);
    const nz: number[] = [];
    for (let r = 0; r < n; r++) {
      const row = X[r];
      const yc = y[r] - this.yMean;
      nz.length = 0;
      for (let j = 0; j < p; j++) if (row[j] !== 0) nz.push(j);
      for (let u = 0; u < nz.length; u++) {
        const a = nz[u];
        const va = row[a];
        xty[a] += va * yc;
        const Aa = A[a];
        for (let v = u; v < nz.length; v++) Aa[nz[v]] += va * row[nz[v]];
      }
    }
    for (let a = 0; a < p; a++) {
      const Aa = A[a];
      for (let b = a; b < p; b++) Aa[b] -= n * this.xMean[a] * this.xMean[b];
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) A[a][b] = A[b][a];
    const evd = new EigenvalueDecomposition(A, { assumeSymmetric: true });
    this.V = evd.eigenvectorMatrix.to2DArray();
    this.lambda = evd.realEigenvalues.map((l) => Math.max(l, 0));
    this.z = this.V[0].map((_, k) => {
      let s = 0;
      for (let j = 0; j < p; j++) s += this.V[j][k] * xty[j];
      return s;
    });
  }

  /** Projections of centred rows onto the eigenvectors (rows x p), reused across alphas. */
  project(X: Float64Array[]): Float64Array[] {
    const p = this.xMean.length;
    return X.map((row) => {
      const out = new Float64Array(p);
      for (let j = 0; j < p; j++) {
        const v = row[j] - this.xMean[j];
        if (v === 0) continue;
        const Vj = this.V[j];
        for (let k = 0; k < p; k++) out[k] += v * Vj[k];
      }
      return out;
    });
  }

  predictProjected(P: Float64Array[], alpha: number): number[] {
    const c = this.z.map((z, k) => z / (this.lambda[k] + alpha));
    return P.map((row) => {
      let s = this.yMean;
      for (let k = 0; k < c.length; k++) s += row[k] * c[k];
      return s;
    });
  }

  fit(alpha: number): RidgeFit {
    const c = this.z.map((z, k) => z / (this.lambda[k] + alpha));
    const w = this.V.map((Vj) => Vj.reduce((s, v, k) => s + v * c[k], 0));
    let intercept = this.yMean;
    for (let j = 0; j < w.length; j++) intercept -= this.xMean[j] * w[j];
    return { intercept, weights: Float64Array.from(w) };
  }
}

/** A fitted predictor for one metric. */
export class Predictor {
  private constructor(
    private readonly enc: Encoding,
    private readonly scale: number,
    private readonly model:
      | { kind: 'ridge'; fit: RidgeFit }
      | {
          kind: 'svr';
          /** One-hot rows of the support vectors as 16-bit words, `words` per vector. */
          bits: Uint16Array;
          words: number;
          coef: Float64Array;
          bias: number;
          kernelOfDist: Float64Array;
        },
    readonly report: PredictorReport,
  ) {}

  /**
   * Fits on raw categorical rows (equal lengths) and labels; rows should be distinct.
   * Needs at least `folds` rows.
   */
  static fit(rows: number[][], labels: number[], options: Partial<PredictorOptions> = {}): Predictor {
    const o = { ...PREDICTOR_DEFAULTS, ...options };
    const n = rows.length;
    if (n !== labels.length) throw new RangeError(`${n} rows but ${labels.length} labels`);
    if (n < o.folds) throw new RangeError(`need at least ${o.folds} samples to fit a predictor, got ${n}`);
    if (labels.some((v) => !Number.isFinite(v))) throw new RangeError('labels must be finite numbers');
    const enc = fitEncoding(rows);
    const p = enc.columns.length;
    const scale = labelScale(labels);
    const y = labels.map((v) => v / scale);
    const codes = new Int16Array(n * p);
    rows.forEach((r, i) => encodeCodes(enc, r, codes, i * p));
    const folds = kFold(n, o.folds);

    // Constant labels or no informative column: both models reduce to the mean.
    if (enc.nFeatures === 0) {
      const mean = y.reduce((s, v) => s + v, 0) / n;
      const err = mape(
        y,
        y.map(() => mean),
      );
      const report: PredictorReport = {
        model: 'ridge',
        ridge: { alpha: o.alphas[0], cvMape: err },
        svr: { C: o.costs[0], cvMape: err },
        cvMape: err,
        samples: n,
      };
      return new Predictor(
        enc,
        scale,
        { kind: 'ridge', fit: { intercept: mean, weights: new Float64Array(0) } },
        report,
      );
    }

    const onehot = (i: number): Float64Array => {
      const x = new Float64Array(enc.nFeatures);
      for (let k = 0; k < p; k++) {
        const c = codes[i * p + k];
        if (c >= 0) x[enc.offsets[k] + c] = 1;
      }
      return x;
    };
    const X = Array.from({ length: n }, (_, i) => onehot(i));

    // Ridge: one eigen-decomposition per fold, all alphas from it.
    let ridge = { alpha: o.alphas[0], cvMape: Infinity };
    if (o.model !== 'svr') {
      const errs = new Float64Array(o.alphas.length);
      for (const val of folds) {
        const inVal = new Set(val);
        const train = X.map((_, i) => i).filter((i) => !inVal.has(i));
        const path = new RidgePath(
          train.map((i) => X[i]),
          train.map((i) => y[i]),
        );
        const P = path.project(val.map((i) => X[i]));
        const yVal = val.map((i) => y[i]);
        o.alphas.forEach((alpha, a) => {
          errs[a] += mape(yVal, path.predictProjected(P, alpha)) / folds.length;
        });
      }
      o.alphas.forEach((alpha, a) => {
        if (errs[a] < ridge.cvMape) ridge = { alpha, cvMape: errs[a] };
      });
    }

    // SVR: the kernel matrix once, warm-started sweep over C per fold.
    const gamma = 1 / enc.nFeatures;
    const kernelOfDist = Float64Array.from({ length: 2 * p + 1 }, (_, d) => Math.exp(-gamma * d));
    const K = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const k = kernelOfDist[sqDist(codes, i * p, codes, j * p, p)];
        K[i * n + j] = k;
        K[j * n + i] = k;
      }
    }
    const costs = [...o.costs].sort((a, b) => a - b);
    let svr = { C: costs[0], cvMape: Infinity };
    if (o.model !== 'ridge') {
      const errs = new Float64Array(costs.length);
      for (const val of folds) {
        const inVal = new Set(val);
        const train = X.map((_, i) => i).filter((i) => !inVal.has(i));
        const m = train.length;
        const Kt = new Float64Array(m * m);
        for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) Kt[a * m + b] = K[train[a] * n + train[b]];
        const state = smoStart(train.map((i) => y[i]));
        const yVal = val.map((i) => y[i]);
        const pred = new Float64Array(val.length);
        costs.forEach((C, c) => {
          const sol = smoSolve(Kt, m, C, state);
          val.forEach((v, r) => {
            let s = sol.bias;
            for (let a = 0; a < m; a++) s += sol.beta[a] * K[v * n + train[a]];
            pred[r] = s;
          });
          errs[c] += mape(yVal, pred) / folds.length;
        });
      }
      costs.forEach((C, c) => {
        if (errs[c] < svr.cvMape) svr = { C, cvMape: errs[c] };
      });
    }

    const useSvr = o.model === 'svr' || (o.model === 'auto' && svr.cvMape < ridge.cvMape);
    const report: PredictorReport = {
      model: useSvr ? 'svr' : 'ridge',
      ridge: Number.isFinite(ridge.cvMape) ? ridge : null,
      svr: Number.isFinite(svr.cvMape) ? svr : null,
      cvMape: useSvr ? svr.cvMape : ridge.cvMape,
      samples: n,
    };
    if (!useSvr) {
      const fit = new RidgePath(X, y).fit(ridge.alpha);
      return new Predictor(enc, scale, { kind: 'ridge', fit }, report);
    }
    const state = smoStart(y);
    let sol = smoSolve(K, n, costs[0], state);
    for (const C of costs) {
      if (C > svr.C) break;
      sol = smoSolve(K, n, C, state);
    }
    const support = Array.from(sol.beta.keys()).filter((i) => sol.beta[i] !== 0);
    const words = Math.ceil(enc.nFeatures / 16);
    const bits = new Uint16Array(support.length * words);
    support.forEach((i, j) => oneHotBits(enc, codes, i * p, bits, j * words));
    const coef = Float64Array.from(support.map((i) => sol.beta[i]));
    return new Predictor(
      enc,
      scale,
      { kind: 'svr', bits, words, coef, bias: sol.bias, kernelOfDist },
      report,
    );
  }

  /** Predicted labels of raw rows. */
  predict(rows: ArrayLike<number>[]): number[] {
    const p = this.enc.columns.length;
    const codes = new Int16Array(p);
    const m = this.model;
    const words = m.kind === 'svr' ? m.words : 0;
    const own = new Uint16Array(words);
    const pop = popcount16();
    return rows.map((row) => {
      encodeCodes(this.enc, row, codes, 0);
      let s: number;
      if (m.kind === 'ridge') {
        s = m.fit.intercept;
        for (let k = 0; k < p; k++) if (codes[k] >= 0) s += m.fit.weights[this.enc.offsets[k] + codes[k]];
      } else {
        // The squared distance of two one-hot rows is the popcount of their XOR.
        own.fill(0);
        oneHotBits(this.enc, codes, 0, own, 0);
        s = m.bias;
        const { bits, coef, kernelOfDist } = m;
        for (let j = 0, at = 0; j < coef.length; j++, at += words) {
          let d = 0;
          for (let w = 0; w < words; w++) d += pop[own[w] ^ bits[at + w]];
          s += coef[j] * kernelOfDist[d];
        }
      }
      return s * this.scale;
    });
  }
}
