/**
 * The fake WNS in a process of its own, so that answering pushes does not take the event
 * loop of the server under test. Prints one JSON line on stdout with where it listens and
 * the credentials it expects:
 *
 * `{"url": ..., "tokenUrl": ..., "packetId": ..., "clientSecret": ...}`
 *
 * It records nothing (counters only) and accepts any channel under `/channel/.*`. Then it
 * reads commands from stdin, one per line: `stats` prints the counters as a JSON line;
 * `quit`, or the end of stdin, stops it.
 *
 * `deno run --allow-net bench/fake_wns_process.ts`
 *
 * @module
 */

import { startFakeWns } from "../adapters/push/wns/fake_wns_server.ts";
import { serveOverStdio } from "./fake_process.ts";

if (import.meta.main) {
  const fake = await startFakeWns({ record: false, acceptAnyChannel: true });
  const { url, tokenUrl, packetId, clientSecret } = fake;
  await serveOverStdio(
    { url, tokenUrl, packetId, clientSecret },
    () => fake.counters,
    () => fake.close(),
  );
}
