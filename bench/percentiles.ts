/**
 * Latency samples and their percentiles (nearest rank), in milliseconds.
 *
 * @module
 */

/** What a set of latencies comes to, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Collects latencies without an object per sample. */
export class LatencyRecorder {
  #values = new Float64Array(1024);
  #count = 0;

  /** Adds one latency, in milliseconds. */
  add(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  /** Samples so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds every sample of another recorder (e.g. one a worker sent back). */
  addAll(values: Float64Array): void {
    for (const value of values) this.add(value);
  }

  /** The samples, as a copy (transferable to another thread). */
  values(): Float64Array {
    return this.#values.slice(0, this.#count);
  }

  summary(): LatencySummary {
    return summarize(this.values());
  }
}

/** Percentiles of `values` (sorted in place). All zero for no samples. */
export function summarize(values: Float64Array): LatencySummary {
  values.sort();
  const count = values.length;
  if (count === 0) return { count, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  let sum = 0;
  for (const value of values) sum += value;
  return {
    count,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values[count - 1],
    mean: sum / count,
  };
}

/** The nearest-rank `p`th percentile of sorted `values`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
