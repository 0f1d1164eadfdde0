/**
 * Epsilon-SVR with epsilon = 0 (the predictor setting of LINAS, as DyNAS-T configures it), solved by SMO.
 * With epsilon 0 the libsvm dual over (alpha, alpha*) reduces to one coefficient per sample,
 * beta = alpha - alpha*:
 *
 *   minimise 1/2 beta' K beta - y' beta   subject to   sum(beta) = 0,  -C <= beta_i <= C
 *
 * and the model is f(x) = sum_j beta_j k(x_j, x) + b. Working pairs are chosen by libsvm's
 * second-order rule (Fan, Chen, Lin 2005); the stopping tolerance is libsvm's 1e-3 on the
 * maximal KKT violation. A solution for one C is a feasible start for any larger C, which the
 * cross-validation uses to sweep C upwards cheaply.
 */
export interface SvrSolution {
  beta: Float64Array;
  bias: number;
  iterations: number;
  converged: boolean;
}

export interface SmoState {
  beta: Float64Array;
  /** K beta - y */
  grad: Float64Array;
}

export function smoStart(y: ArrayLike<number>): SmoState {
  const n = y.length;
  const grad = new Float64Array(n);
  for (let i = 0; i < n; i++) grad[i] = -y[i];
  return { beta: new Float64Array(n), grad };
}

const TAU = 1e-12;

/**
 * Solves in place from `state` (which must be feasible for C: |beta_i| <= C, sum 0).
 * K is the n x n kernel matrix, row-major.
 */
export function smoSolve(
  K: Float64Array,
  n: number,
  C: number,
  state: SmoState,
  tol = 1e-3,
  maxIter = 1_000_000,
): SvrSolution {
  const { beta, grad } = state;
  let iterations = 0;
  let converged = false;
  for (; iterations < maxIter; iterations++) {
    // i: the most violating index that may go up
    let gMax = -Infinity;
    let i = -1;
    for (let t = 0; t < n; t++) {
      if (beta[t] < C && -grad[t] > gMax) {
        gMax = -grad[t];
        i = t;
      }
    }
    let gMin = Infinity;
    let j = -1;
    let best = Infinity;
    const Kii = i >= 0 ? K[i * n + i] : 0;
    for (let t = 0; t < n; t++) {
      if (beta[t] <= -C) continue;
      const v = -grad[t];
      if (v < gMin) gMin = v;
      if (i < 0) continue;
      const b = gMax - v;
      if (b > 0) {
        let a = Kii + K[t * n + t] - 2 * K[i * n + t];
        if (a <= 0) a = TAU;
        const score = -(b * b) / a;
        if (score < best) {
          best = score;
          j = t;
        }
      }
    }
    if (i < 0 || j < 0 || gMax - gMin < tol) {
      converged = true;
      break;
    }
    let a = Kii + K[j * n + j] - 2 * K[i * n + j];
    if (a <= 0) a = TAU;
    let step = (grad[j] - grad[i]) / a;
    step = Math.min(step, C - beta[i], beta[j] + C);
    if (step <= 0) {
      converged = true;
      break;
    }
    beta[i] += step;
    beta[j] -= step;
    const ri = i * n;
    const rj = j * n;
    for (let t = 0; t < n; t++) grad[t] += step * (K[ri + t] - K[rj + t]);
  }
  return { beta: Float64Array.from(beta), bias: svrBias(beta, grad, C), iterations, converged };
}

/** The offset b: the mean of -grad over free coefficients, else the middle of its feasible interval. */
export function svrBias(beta: ArrayLike<number>, grad: ArrayLike<number>, C: number): number {
  let sum = 0;
  let free = 0;
  let ub = Infinity;
  let lb = -Infinity;
  for (let t = 0; t < beta.length; t++) {
    if (beta[t] >= C) ub = Math.min(ub, -grad[t]);
    else if (beta[t] <= -C) lb = Math.max(lb, -grad[t]);
    else {
      sum += -grad[t];
      free++;
    }
  }
  if (free > 0) return sum / free;
  if (Number.isFinite(ub) && Number.isFinite(lb)) return (ub + lb) / 2;
  return Number.isFinite(ub) ? ub : Number.isFinite(lb) ? lb : 0;
}
