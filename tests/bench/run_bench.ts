/**
 * Runs `bench/main.ts` in a child process with small sizes, for the benchmark smoke tests:
 * they check that each scenario runs and prints its figures, never what the figures are.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ScenarioRecord } from "../../bench/json_output.ts";

const MAIN = new URL("../../bench/main.ts", import.meta.url).pathname;

/** What a benchmark run printed and wrote. */
export interface BenchRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly records: readonly ScenarioRecord[];
}

/** Runs `deno run -A bench/main.ts ...args` with a temporary `--out`; fails on a non-zero exit. */
export async function runBench(args: readonly string[]): Promise<BenchRun> {
  const out = await Deno.makeTempDir({ prefix: "bench-smoke-" });
  try {
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, ...args, `--out=${out}`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, `bench exited with ${result.code}\n${stdout}\n${stderr}`);
    const files = [...Deno.readDirSync(out)].map((entry) => entry.name);
    assert.equal(files.length, 1, `expected one results file, got ${files.join(", ")}`);
    assert.match(files[0], /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/);
    const records = JSON.parse(await Deno.readTextFile(`${out}/${files[0]}`));
    return { stdout, stderr, records };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/**
 * Checks that the run printed a table with `columns` for `scenario`, and wrote its record:
 * machine, versions, sizes, and `rows` rows with a number in every column named, and no
 * error counted. Rows `isSummaryRow` picks (e.g. a median of ratios) are exempt from the
 * columns; every other row missing one fails.
 */
export function assertFigures(
  run: BenchRun,
  scenario: string,
  columns: readonly string[],
  rows: number,
  isSummaryRow: (row: Record<string, unknown>) => boolean = () => false,
): void {
  assert.match(run.stdout, new RegExp(`^${scenario}  \\(`, "m"), run.stdout);
  for (const column of columns) assert.ok(run.stdout.includes(column), `no ${column} column`);
  const record = run.records.find((r) => r.scenario === scenario);
  assert.ok(record, `no ${scenario} record`);
  assert.ok(record.machine.cores > 0 && record.machine.cpuModel !== "");
  assert.ok(record.versions.deno.length > 0);
  assert.ok(Object.keys(record.sizes).length > 0);
  assert.equal(record.figures.length, rows, JSON.stringify(record.figures));
  const measured = record.figures.filter((row) => !isSummaryRow(row));
  assert.ok(measured.length > 0, `no measured rows in ${JSON.stringify(record.figures)}`);
  for (const row of measured) {
    // Every measured row has every column, as a finite number: a missing figure is a failure.
    for (const column of columns) {
      const value = row[column];
      assert.ok(
        typeof value === "number" && Number.isFinite(value),
        `${column} missing or not a number in ${JSON.stringify(row)}`,
      );
    }
    if ("errors" in row) assert.equal(row.errors, 0, JSON.stringify(row));
  }
}
