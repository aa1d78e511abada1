/**
 * Summarizes a V8 CPU profile (`deno run --cpu-prof`): the functions with the most self
 * time, and the script files with the most self time.
 *
 * `deno run --allow-read bench/profile_top.ts PROFILE.cpuprofile [--top=25]`
 *
 * @module
 */

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Self time per function and per file, in milliseconds, largest first. */
export function topSelfTime(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const file = shortUrl(frame.url);
    const name = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    files.set(file || frame.functionName, (files.get(file || frame.functionName) ?? 0) + us);
    total += us;
  }
  const sorted = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({
      name,
      ms: us / 1000,
      share: us / total,
    }));
  return { totalMs: total / 1000, functions: sorted(functions), files: sorted(files) };
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\/.*?\/(adapters|app|domain|bench|tests)\//, "$1/")
    .replace(/^.*\/registry\.npmjs\.org\//, "npm:")
    .replace(/^ext:/, "ext:");
}

if (import.meta.main) {
  const path = Deno.args.find((arg) => !arg.startsWith("--"));
  if (!path) {
    console.error("usage: profile_top.ts PROFILE.cpuprofile [--top=25]");
    Deno.exit(2);
  }
  const top = Number(Deno.args.find((arg) => arg.startsWith("--top="))?.slice(6) ?? 25);
  const summary = topSelfTime(JSON.parse(await Deno.readTextFile(path)));
  const line = (entry: { name: string; ms: number; share: number }) =>
    `${(entry.share * 100).toFixed(1).padStart(5)}%  ${
      entry.ms.toFixed(0).padStart(7)
    } ms  ${entry.name}`;
  console.log(`total sampled: ${summary.totalMs.toFixed(0)} ms\n\ntop functions by self time:`);
  for (const entry of summary.functions.slice(0, top)) console.log(line(entry));
  console.log("\ntop files by self time:");
  for (const entry of summary.files.slice(0, 15)) console.log(line(entry));
}
