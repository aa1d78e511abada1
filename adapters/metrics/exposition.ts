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

/** Observations counted in cumulative buckets, with their sum and count (no labels). */
export class Histogram implements Family {
  readonly name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(options: { readonly name: string; readonly help: string; buckets: number[] }) {
    if (!NAME.test(options.name)) throw new Error(`invalid metric name ${options.name}`);
    this.name = options.name;
    this.#help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    this.#counts = this.#bounds.map(() => 0);
  }

  /** Counts one observation. */
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    this.#bounds.forEach((bound, i) => {
      if (value <= bound) this.#counts[i]++;
    });
    this.#sum += value;
    this.#count++;
  }

  lines(): string[] {
    const out = [`# HELP ${this.name} ${escapeHelp(this.#help)}`, `# TYPE ${this.name} histogram`];
    this.#bounds.forEach((bound, i) => {
      out.push(`${this.name}_bucket{le="${formatValue(bound)}"} ${this.#counts[i]}`);
    });
    out.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    out.push(`${this.name}_sum ${formatValue(this.#sum)}`);
    out.push(`${this.name}_count ${this.#count}`);
    return out;
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
