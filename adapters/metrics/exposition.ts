/**
 * A small Prometheus registry and its text exposition format (version 0.0.4): counters and
 * gauges with labels, gauges read at scrape time, histograms. Just what this server needs.
 *
 * Our own rather than npm `prom-client`: prom-client runs on Deno, but one of its
 * dependencies (`bintrees`, through `tdigest`) makes `deno compile` 2.9.6 overflow its
 * stack, and the server must compile to a single binary.
 *
 * @module
 */

/** The Content-Type of {@link Registry.text}. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One metric family: its samples as exposition lines. */
interface Family {
  readonly name: string;
  lines(): string[];
}

/** A set of metrics exposed together. */
export class Registry {
  readonly #families: Family[] = [];

  /** Adds a metric; names must be unique. */
  register<T extends Family>(family: T): T {
    if (this.#families.some((f) => f.name === family.name)) {
      throw new Error(`metric ${family.name} is already registered`);
    }
    this.#families.push(family);
    return family;
  }

  /** Every metric in the text format. */
  text(): string {
    return this.#families.flatMap((family) => family.lines()).join("\n") + "\n";
  }
}

/** Settings shared by every metric. */
interface MetricOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
  /** Reads the (unlabelled) value at each scrape, for values kept elsewhere. */
  readonly collect?: () => number;
}

/** Series of one metric by their label values. */
abstract class LabelledMetric implements Family {
  readonly name: string;
  readonly #help: string;
  readonly #type: string;
  readonly #labelNames: readonly string[];
  readonly #collect: (() => number) | undefined;
  protected readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(options: MetricOptions, type: string) {
    if (!NAME.test(options.name)) throw new Error(`invalid metric name ${options.name}`);
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      if (!LABEL.test(label) || label.startsWith("__")) {
        throw new Error(`invalid label name ${label}`);
      }
    }
    this.name = options.name;
    this.#help = options.help;
    this.#type = type;
    this.#labelNames = labelNames;
    this.#collect = options.collect;
  }

  lines(): string[] {
    if (this.#collect) this.seriesFor({}).value = this.#collect();
    const out = [
      `# HELP ${this.name} ${escapeHelp(this.#help)}`,
      `# TYPE ${this.name} ${this.#type}`,
    ];
    for (const { labels, value } of this.series.values()) {
      out.push(`${this.name}${formatLabels(labels)} ${formatValue(value)}`);
    }
    return out;
  }

  /** The series for `labels`, created at 0; the labels must be exactly the declared ones. */
  protected seriesFor(labels: Labels): { labels: Labels; value: number } {
    const keys = Object.keys(labels);
    if (
      keys.length !== this.#labelNames.length || !this.#labelNames.every((n) => n in labels)
    ) {
      throw new Error(`${this.name} takes the labels [${this.#labelNames.join(", ")}]`);
    }
    const key = this.#labelNames.map((n) => labels[n]).join("\u0000");
    let series = this.series.get(key);
    if (!series) {
      series = { labels: { ...labels }, value: 0 };
      this.series.set(key, series);
    }
    return series;
  }
}

/** A value that only goes up. */
export class Counter extends LabelledMetric {
  constructor(options: MetricOptions) {
    super(options, "counter");
  }

  /** Adds `by` (default 1; 0 creates the series) to the series of `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter cannot go down`);
    this.seriesFor(labels).value += by;
  }
}

/** A value that goes up and down; set by events, or read from `collect` at each scrape. */
export class Gauge extends LabelledMetric {
  constructor(options: MetricOptions) {
    super(options, "gauge");
  }

  /** Sets the series of `labels`. */
  set(value: number, labels: Labels = {}): void {
    this.seriesFor(labels).value = value;
  }
}

/** One histogram series: cumulative bucket counts, sum and count. */
interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted in cumulative buckets, with their sum and count, by labels. */
export class Histogram implements Family {
  readonly name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(
    options: {
      readonly name: string;
      readonly help: string;
      buckets: number[];
      readonly labelNames?: readonly string[];
    },
  ) {
    if (!NAME.test(options.name)) throw new Error(`invalid metric name ${options.name}`);
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      if (!LABEL.test(label) || label.startsWith("__") || label === "le") {
        throw new Error(`invalid label name ${label}`);
      }
    }
    this.name = options.name;
    this.#help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    this.#labelNames = labelNames;
    // Without labels, the one series shows from the start, as before labels existed.
    if (labelNames.length === 0) this.#seriesFor({});
  }

  /** Counts one observation in the series of `labels` (exactly the declared ones). */
  observe(value: number, labels: Labels = {}): void {
    if (Number.isNaN(value)) return;
    const series = this.#seriesFor(labels);
    this.#bounds.forEach((bound, i) => {
      if (value <= bound) series.counts[i]++;
    });
    series.sum += value;
    series.count++;
  }

  lines(): string[] {
    const out = [`# HELP ${this.name} ${escapeHelp(this.#help)}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      const with_ = (extra: string) => {
        const pairs = formatLabels(labels).slice(1, -1);
        return `{${pairs === "" ? extra : `${pairs},${extra}`}}`;
      };
      this.#bounds.forEach((bound, i) => {
        out.push(`${this.name}_bucket${with_(`le="${formatValue(bound)}"`)} ${counts[i]}`);
      });
      out.push(`${this.name}_bucket${with_('le="+Inf"')} ${count}`);
      out.push(`${this.name}_sum${formatLabels(labels)} ${formatValue(sum)}`);
      out.push(`${this.name}_count${formatLabels(labels)} ${count}`);
    }
    return out;
  }

  #seriesFor(labels: Labels): HistogramSeries {
    const keys = Object.keys(labels);
    if (
      keys.length !== this.#labelNames.length || !this.#labelNames.every((n) => n in labels)
    ) {
      throw new Error(`${this.name} takes the labels [${this.#labelNames.join(", ")}]`);
    }
    const key = this.#labelNames.map((n) => labels[n]).join("\u0000");
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: { ...labels }, counts: this.#bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    return series;
  }
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Numbers as the format spells them. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
