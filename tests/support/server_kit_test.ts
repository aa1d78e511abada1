import assert from "node:assert/strict";
import { ADMIN_BIN_DIRS, findBinary } from "./server_kit.ts";

Deno.test("findBinary: finds administrator commands in /usr/sbin when PATH lacks it", () => {
  // A user's PATH without the sbin directories, as on Debian for a non-root login.
  const userPath = "/usr/local/bin:/usr/bin:/bin";
  const inSbin = ADMIN_BIN_DIRS.map((dir) => `${dir}/ejabberdctl`).find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
  if (inSbin === undefined) {
    // ejabberd not installed: the command must then not be invented.
    assert.equal(findBinary("ejabberdctl", userPath), undefined);
  } else {
    assert.equal(findBinary("ejabberdctl", userPath), inSbin);
  }
  assert.equal(findBinary("no-such-command-anywhere", userPath), undefined);
  assert.equal(findBinary("sh", "/bin"), "/bin/sh");
});
