/**
 * The bulk loader in a process of its own, so that the memory it churns through (a million
 * registrations) does not count in the benchmark process's RSS, where the server runs.
 *
 * `deno run -A bench/bulk_load_process.ts sqlite|redis PATH|URL FROM TO FLEET_JSON`
 *
 * @module
 */

import type { BenchFleet } from "./bench_registrations.ts";
import { bulkLoadRedis, bulkLoadSqlite } from "./fixtures.ts";

/** Runs the loader in a child process; rejects if it fails. */
export async function bulkLoadInChild(
  kind: "sqlite" | "redis",
  target: string,
  from: number,
  to: number,
  fleet: BenchFleet,
): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL(import.meta.url).pathname,
      kind,
      target,
      String(from),
      String(to),
      JSON.stringify(fleet),
    ],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!result.success) throw new Error(`bulk load of ${kind} failed (exit ${result.code})`);
}

if (import.meta.main) {
  const [kind, target, from, to, fleetJson] = Deno.args;
  const fleet: BenchFleet = JSON.parse(fleetJson);
  if (kind === "sqlite") bulkLoadSqlite(target, fleet, Number(from), Number(to));
  else await bulkLoadRedis(target, fleet, Number(from), Number(to));
}
