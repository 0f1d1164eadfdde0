// Deterministic helpers for workflow code: plain promises, no timers, no I/O.

/** Runs `work` over `items` with at most `limit` in flight, results in input order. */
export async function slidingWindow<T, R>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<R>,
  gate: () => Promise<void>,
  onFlight: (n: number) => void,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let inFlight = 0;
  async function lane(): Promise<void> {
    for (;;) {
      await gate();
      // another lane may have taken the last item while this one waited at the gate
      if (next >= items.length) return;
      const i = next++;
      onFlight(++inFlight);
      try {
        results[i] = await work(items[i]);
      } finally {
        onFlight(--inFlight);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
