/**
 * What a benchmark ran on: the machine (CPU model, cores, memory, kernel) and the versions
 * of Deno, V8 and the servers it drives.
 *
 * @module
 */

/** The machine. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly kernel: string;
}

/** Software versions; null when a program is not installed. */
export interface Versions {
  readonly deno: string;
  readonly v8: string;
  readonly typescript: string;
  readonly prosody: string | null;
  readonly redis: string | null;
}

/** Reads the CPU model from /proc/cpuinfo (Linux), the rest from Deno. */
export function machineInfo(): MachineInfo {
  let cpuModel = "unknown";
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(text)?.[1].trim() ?? cpuModel;
  } catch {
    // Not Linux: unknown.
  }
  const memory = Deno.systemMemoryInfo();
  return {
    cpuModel,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round((memory.total / 2 ** 30) * 10) / 10,
    os: Deno.build.os,
    kernel: Deno.osRelease(),
  };
}

/** Versions of Deno, V8, TypeScript, and of Prosody and Redis as installed. */
export async function versions(): Promise<Versions> {
  const [prosody, redis] = await Promise.all([
    // Asking prosodyctl starts Lua and reads the config; the package version says the same.
    output("dpkg-query", ["-W", "-f=${Version}", "prosody"]),
    output("redis-server", ["--version"]).then((text) =>
      text === null ? null : /v=(\S+)/.exec(text)?.[1] ?? text
    ),
  ]);
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    prosody,
    redis,
  };
}

/** A command's trimmed stdout, or null when it cannot run or fails. */
async function output(command: string, args: string[]): Promise<string | null> {
  try {
    const result = await new Deno.Command(command, { args, stdin: "null", stderr: "null" })
      .output();
    const text = new TextDecoder().decode(result.stdout).trim();
    return result.success && text !== "" ? text : null;
  } catch {
    return null;
  }
}
