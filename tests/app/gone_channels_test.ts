import assert from "node:assert/strict";
import { GoneChannels } from "../../app/gone_channels.ts";

Deno.test("GoneChannels: remembers gone channels until registered again", () => {
  const gone = new GoneChannels();
  assert.equal(gone.has("a"), false);
  gone.add("a");
  assert.equal(gone.has("a"), true);
  gone.delete("a");
  assert.equal(gone.has("a"), false);
});

Deno.test("GoneChannels: bounded, the oldest entry goes first", () => {
  const gone = new GoneChannels(2);
  gone.add("a");
  gone.add("b");
  gone.add("a"); // Seen again: now the newest.
  gone.add("c");
  assert.deepEqual(["a", "b", "c"].map((c) => gone.has(c)), [true, false, true]);
});

Deno.test("GoneChannels: an entry lasts its TTL, then the store alone decides", () => {
  let now = 1_000;
  const gone = new GoneChannels(10, { ttlMs: 60_000, clock: { now: () => now } });
  gone.add("a");
  now += 59_999;
  assert.equal(gone.has("a"), true);
  now += 1;
  assert.equal(gone.has("a"), false, "registered again through another instance: works here");
  gone.add("a");
  assert.equal(gone.has("a"), true, "heard gone again: remembered again");
});
