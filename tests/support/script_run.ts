/**
 * Runs one of the project's scripts as a subprocess (`deno run --allow-all`), as an operator
 * would from a shell: no input, no colours, its exit code and output captured.
 *
 * @module
 */

/** What a script run left: its exit code and output. */
export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `script` (a path) with `args` and waits for it to exit. */
export async function runScript(script: string, args: string[]): Promise<ScriptRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}
