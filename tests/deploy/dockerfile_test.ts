import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

/** The flags of a `deno compile` command line, joined over backslash-newlines. */
function compileFlags(commandLine: string): string[] {
  const words = commandLine.replace(/\\\n/g, " ").split(/\s+/).filter((word) => word !== "");
  const start = words.indexOf("compile");
  assert.notEqual(start, -1, "no deno compile in the command");
  const flags: string[] = [];
  for (let i = start + 1; i < words.length && !words[i].startsWith("&&"); i++) {
    if (words[i] === "--include" || words[i] === "--output") {
      if (words[i] === "--include") flags.push(`--include ${words[i + 1]}`);
      i++;
    } else if (words[i].startsWith("-")) {
      if (words[i] !== "--frozen") flags.push(words[i]);
    } else {
      flags.push(`entry ${words[i]}`);
    }
  }
  return flags.sort();
}

Deno.test("deploy/Dockerfile compiles with deno.json's compile task: same flags, same included workers", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const dockerfile = await Deno.readTextFile(new URL("deploy/Dockerfile", root));
  const run = dockerfile.match(/RUN (deno compile[\s\S]*?)(?:&&|\n(?![ \t]))/);
  assert.ok(run, "the Dockerfile has no deno compile step");
  const image = compileFlags(run[1]);
  assert.deepEqual(image, compileFlags(denoJson.tasks.compile));
  // Every included module exists: a stale path fails the image build, not this checkout.
  for (const flag of image.filter((f) => f.startsWith("--include "))) {
    const path = flag.slice("--include ".length);
    assert.ok((await Deno.stat(new URL(path, root))).isFile, `${path} is missing`);
  }
});
