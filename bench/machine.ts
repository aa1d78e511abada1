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

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ: 100 on every Linux build here). */
const USER_HZ = 100;

/**
 * CPU time (user + system) so far of every process whose command line matches `pattern`,
 * in microseconds (10 ms resolution), from /proc; 0 where there is no /proc.
 */
export function processesCpuMicros(pattern: RegExp): number {
  let ticks = 0;
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
        if (!pattern.test(cmdline)) continue;
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        // Fields after the command name (which may hold spaces): utime and stime are the
        // 14th and 15th fields of the whole line.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // The process ended meanwhile.
      }
    }
  } catch {
    return 0;
  }
  return (ticks / USER_HZ) * 1_000_000;
}
