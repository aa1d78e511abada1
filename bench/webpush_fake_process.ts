/**
 * The fake Web Push service in a process of its own, so that its JWT verification and
 * decryption (jose, http_ece) do not count as the sender's CPU. Prints one JSON line:
 *
 * `{"origin": ..., "cert": <PEM>, "subscriptions": [<PushSubscription JSON>...]}`
 *
 * with `count` subscriptions bound to the VAPID public key given. It records nothing
 * (counters only); with `no-verify` it does not verify JWTs nor decrypt (sender-bound runs). Then reads commands from stdin, one per line: `stats` prints the counters
 * as a JSON line; `quit`, or the end of stdin, stops it.
 *
 * `deno run --allow-net bench/webpush_fake_process.ts <vapidPublicKey> <count> [no-verify]`
 *
 * @module
 */

import { startFakePushService } from "../adapters/push/webpush/fake_push_service.ts";
import { testCertificate } from "../tests/support/tls_cert.ts";
import { serveOverStdio } from "./fake_process.ts";

if (import.meta.main) {
  const [vapidKey, count, verify] = Deno.args;
  const tls = await testCertificate();
  const fake = await startFakePushService({
    tls,
    hostname: "localhost",
    record: false,
    verify: verify !== "no-verify",
  });
  const subscriptions = Array.from(
    { length: Number(count ?? 1) },
    () => fake.subscribe({ vapidKey }).json,
  );
  await serveOverStdio(
    { origin: fake.origin, cert: tls.cert, subscriptions },
    () => fake.counters,
    () => fake.close(),
  );
}
