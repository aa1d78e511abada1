/**
 * The JSON file of a benchmark run: `bench-results/<timestamp>.json`, an array with one
 * object per scenario carrying the machine, the versions, the sizes and the figures.
 *
 * @module
 */

import type { MachineInfo, Versions } from "./machine.ts";
import type { Row } from "./table.ts";

/** One scenario's figures, as written to the JSON file. */
export interface ScenarioRecord {
  readonly scenario: string;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: MachineInfo;
  readonly versions: Versions;
  /**
   * The machine's load average (1, 5, 15 minutes) when the scenario started: other work on
   * the machine takes cores from the benchmark, and this says how much there was.
   */
  readonly loadAverage: readonly number[];
  /** The sizes and settings it ran with (counts, storage, concurrency...). */
  readonly sizes: Record<string, unknown>;
  /** One object per table row. */
  readonly figures: readonly Row[];
  readonly notes: readonly string[];
}

/** A file name from a time: `2025-01-31T12-00-00Z.json` (no colons, sorts by time). */
export function resultFileName(at: Date): string {
  return `${at.toISOString().replace(/\.\d+Z$/, "Z").replaceAll(":", "-")}.json`;
}

/** Writes the records to `<dir>/<timestamp>.json`; returns the path. */
export async function writeResults(
  dir: string,
  at: Date,
  records: readonly ScenarioRecord[],
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${resultFileName(at)}`;
  await Deno.writeTextFile(path, JSON.stringify(records, null, 2) + "\n");
  return path;
}
