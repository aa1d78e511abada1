/**
 * `deno task bench [scenario...] [--flags]`: runs benchmark scenarios (all when none is
 * named), prints a table per scenario on stdout and writes every figure to
 * `bench-results/<timestamp>.json`. Progress goes to stderr. Benchmarks report figures;
 * they never fail on one.
 *
 * @module
 */

import type { LogLevel } from "../adapters/logging/console_logger.ts";
import { type ScenarioRecord, writeResults } from "./json_output.ts";
import { latencyUnderLoad } from "./latency_under_load.ts";
import { machineInfo, versions } from "./machine.ts";
import { pushInproc } from "./push_inproc.ts";
import { pushInprocFcm } from "./push_inproc_fcm.ts";
import { pushInprocApns } from "./push_inproc_apns.ts";
import { pushProsody } from "./push_prosody.ts";
import { register } from "./register.ts";
import { scale } from "./scale.ts";
import { Flags, type Scenario } from "./scenario.ts";
import { formatTable } from "./table.ts";

export const SCENARIOS: readonly Scenario[] = [
  pushInproc,
  pushInprocFcm,
  pushInprocApns,
  pushProsody,
  register,
  scale,
  latencyUnderLoad,
];

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

function usage(): string {
  return [
    "Usage: deno task bench [scenario...] [--flags]",
    "",
    "Scenarios (all when none is named):",
    ...SCENARIOS.map((s) => `  ${s.name.padEnd(20)} ${s.summary}\n${" ".repeat(23)}${s.flagsHelp}`),
    "",
    "Common flags: --out=bench-results (JSON directory) --log=info (server log level; lines",
    "go to /dev/null) --help",
  ].join("\n");
}

/** Runs the CLI; returns the exit code (non-zero only for bad arguments or a crash). */
export async function main(args: readonly string[]): Promise<number> {
  const { names, flags } = Flags.parse(args);
  if (flags.string("help", "") === "true") {
    console.log(usage());
    return 0;
  }
  const unknown = names.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0) {
    console.error(`unknown scenario: ${unknown.join(", ")}\n\n${usage()}`);
    return 2;
  }
  const selected = names.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => names.includes(s.name));
  const out = flags.string("out", "bench-results");
  const logLevel = flags.choices("log", LOG_LEVELS, ["info"])[0];
  const machine = machineInfo();
  const software = await versions();
  const started = new Date();
  console.log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ` +
      `deno ${software.deno}, v8 ${software.v8}, prosody ${software.prosody ?? "-"}, ` +
      `redis ${software.redis ?? "-"}`,
  );
  const records: ScenarioRecord[] = [];
  for (const scenario of selected) {
    const dir = await Deno.makeTempDir({ prefix: `bench-${scenario.name}-` });
    const at = new Date();
    const loadAverage = Deno.loadavg();
    try {
      const output = await scenario.run({
        flags,
        dir,
        logLevel,
        progress: (message) => console.error(`[${elapsed(at)}] ${message}`),
      });
      const durationSeconds = (Date.now() - at.getTime()) / 1000;
      console.log(`\n${scenario.name}  (${JSON.stringify(output.sizes)})`);
      console.log(`load average at start: ${loadAverage.join(" ")}`);
      console.log(formatTable(output.rows));
      for (const note of output.notes) console.log(`  note: ${note}`);
      records.push({
        scenario: scenario.name,
        startedAt: at.toISOString(),
        durationSeconds,
        machine,
        versions: software,
        loadAverage,
        sizes: output.sizes,
        figures: output.rows,
        notes: output.notes,
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    const unread = flags.unread();
    if (unread.length > 0 && scenario === selected.at(-1)) {
      console.error(`flags no scenario read: ${unread.map((f) => `--${f}`).join(" ")}`);
    }
  }
  const path = await writeResults(out, started, records);
  console.log(`\nresults: ${path}`);
  return 0;
}

function elapsed(since: Date): string {
  return `${((Date.now() - since.getTime()) / 1000).toFixed(1)}s`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
