import assert from "node:assert/strict";
import { secretMatches } from "../../domain/secret_check.ts";

Deno.test("secretMatches: equal secrets match", () => {
  assert.equal(secretMatches("sekrit", "sekrit"), true);
  const long = "x".repeat(5000) + "é✓";
  assert.equal(secretMatches(long, long), true);
});

Deno.test("secretMatches: different secrets of the same length do not match", () => {
  assert.equal(secretMatches("sekrit", "sekriT"), false);
  assert.equal(secretMatches("aaaaaa", "baaaaa"), false);
});

Deno.test("secretMatches: secrets of different lengths do not match", () => {
  assert.equal(secretMatches("sekri", "sekrit"), false);
  assert.equal(secretMatches("sekrit ", "sekrit"), false);
  assert.equal(secretMatches("", "sekrit"), false);
});

Deno.test("secretMatches: a missing secret never matches, not even an empty one", () => {
  assert.equal(secretMatches(null, "sekrit"), false);
  assert.equal(secretMatches(null, ""), false);
});

Deno.test("secretMatches: a prefix, a repetition or a longer offer does not match", () => {
  assert.equal(secretMatches("sek", "seksek"), false);
  assert.equal(secretMatches("seksek", "sek"), false);
  assert.equal(secretMatches("ab", "abab"), false);
  assert.equal(secretMatches("", ""), true);
  assert.equal(secretMatches("é✓", "é✓"), true);
  assert.equal(secretMatches("é✔", "é✓"), false);
});
