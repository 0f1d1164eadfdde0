import { slidingWindow } from '../../../workflows/window';

describe('slidingWindow', () => {
  it('runs every item once, at most `limit` at a time, results in input order, even behind a gate', async () => {
    const started: number[] = [];
    let inFlight = 0;
    let peak = 0;
    const results = await slidingWindow(
      [1, 2, 3, 4, 5, 6, 7],
      3,
      async (n) => {
        started.push(n);
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, (n * 7) % 5));
        inFlight--;
        return n * 10;
      },
      () => new Promise((r) => setImmediate(r)),
      () => undefined,
    );
    expect(results).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect([...started].sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });
});
