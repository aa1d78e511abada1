/**
 * A loopback TCP server in a Worker (a thread of its own, so it reads as data arrives, as
 * another process would) that counts the reads it takes to receive what is sent to it.
 *
 * Messages in: `"listen"`, then any number of `"peek"`. Messages out: `{ port }`, then
 * `{ reads, text }` for each peek.
 *
 * @module
 */

import { createServer } from "node:net";

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
let reads = 0;
let text = "";
const server = createServer((socket) => {
  socket.on("data", (chunk) => {
    reads++;
    text += chunk.toString();
  });
});

scope.onmessage = (event: MessageEvent<"listen" | "peek">) => {
  if (event.data === "listen") {
    server.listen(0, "127.0.0.1", () => {
      scope.postMessage({ port: (server.address() as { port: number }).port });
    });
  } else {
    scope.postMessage({ reads, text });
  }
};
