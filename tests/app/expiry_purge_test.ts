import assert from "node:assert/strict";
import { startExpiryPurge } from "../../app/expiry_purge.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

Deno.test("startExpiryPurge: afterPurge runs after the purge, failed or not", async () => {
  for (const fails of [false, true]) {
    const order: string[] = [];
    const store = {
      purgeExpired: () => {
        order.push("purge");
        return fails ? Promise.reject(new Error("down")) : Promise.resolve(2);
      },
    };
    const logger = new RecordingLogger();
    const stop = await startExpiryPurge(store, { now: () => 0 }, logger, () => order.push("after"));
    stop();
    assert.deepEqual(order, ["purge", "after"]);
    assert.equal(logger.lines.length, 1, logger.text());
  }
});
