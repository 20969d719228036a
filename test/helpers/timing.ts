/**
 * Timings of store calls on a big table, each the median of five runs: one slow run (a GC
 * pause, the machine busy) does not count. `timed` runs a call and records its median under a
 * label; `timings` holds them for the test to bound.
 */
export function medianTimer(): {
  timings: Record<string, number>;
  timed: <T>(label: string, run: () => Promise<T>) => Promise<T>;
} {
  const timings: Record<string, number> = {};
  const timed = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    const times: number[] = [];
    let value: T | undefined;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      value = await run();
      times.push(performance.now() - started);
    }
    timings[label] = times.sort((a, b) => a - b)[2]!;
    return value!;
  };
  return { timings, timed };
}
