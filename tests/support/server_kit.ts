/**
 * What the harnesses that start real servers for tests (Prosody, ejabberd, Redis) share:
 * finding binaries, gating tests on them, free loopback ports, bounded waits, log tails.
 *
 * @module
 */

/**
 * Where Debian installs administrator commands (ejabberdctl, prosodyctl, redis-server live in
 * /usr/sbin), which are often not on a user's PATH.
 */
export const ADMIN_BIN_DIRS: readonly string[] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The absolute path of `name` on PATH or, failing that, in {@link ADMIN_BIN_DIRS} (or `name`
 * itself if it is a path), else undefined.
 */
export function findBinary(
  name: string,
  path: string = Deno.env.get("PATH") ?? "",
): string | undefined {
  const dirs = [...path.split(":").filter(Boolean), ...ADMIN_BIN_DIRS];
  const candidates = name.includes("/") ? [name] : dirs.map((dir) => `${dir}/${name}`);
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there: try the next one
    }
  }
  return undefined;
}

/**
 * Decides whether a test needing `binary` runs. Spread the result into Deno.test's options.
 * Missing binary: under CI (env `CI` set, not "false"/"0") this throws, so the suite fails
 * instead of silently skipping; elsewhere the test is ignored.
 */
export function serverTestGate(binary: string): { ignore: boolean } {
  if (findBinary(binary) !== undefined) return { ignore: false };
  const ci = Deno.env.get("CI");
  if (ci && ci !== "false" && ci !== "0") {
    throw new Error(
      `${binary} is not installed, but CI=${ci}: end-to-end tests must run in CI. ` +
        `Install it (apt-get install prosody prosody-modules ejabberd redis-server openssl nghttp2-server).`,
    );
  }
  console.warn(`${binary} not found on PATH nor in /usr/sbin: ignoring tests that need it`);
  return { ignore: true };
}

/** Free loopback ports, one per listener; all held open together so they differ. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** Rejects after `ms` unless `promise` settles first; the timer is always cleared (no leaked ops). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(id);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last `lines` lines of a log file, or why there are none. */
export async function tailOf(path: string, lines: number): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (err) {
    return `(no ${path}: ${err instanceof Error ? err.message : err})`;
  }
}
