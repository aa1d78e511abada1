import assert from "node:assert/strict";
import { exponentialBackoff } from "../../lib/backoff.ts";

Deno.test("exponentialBackoff doubles from the initial delay up to the cap", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((retry) => exponentialBackoff(retry, 500, 8000)),
    [500, 1000, 2000, 4000, 8000, 8000],
  );
  // Redis reconnects: 50 ms doubling to 2 s, whatever the attempt count reaches.
  assert.equal(exponentialBackoff(1, 50, 2000), 100);
  assert.equal(exponentialBackoff(10_000, 50, 2000), 2000);
  assert.equal(exponentialBackoff(-1, 50, 2000), 50);
});
