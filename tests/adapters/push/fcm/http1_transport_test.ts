/** FCM's transport over the HTTP/1.1 client: bodies kept (bounded), timeouts named. */

import assert from "node:assert/strict";
import { http1Transport, HttpTimeoutError } from "../../../../adapters/push/fcm/http_transport.ts";
import { Http1Client } from "../../../../adapters/push/wns/http1_client.ts";

async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (url: string) => Promise<void>,
) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

const request = (url: string, maxResponseBytes = 1024, timeoutMs = 2000) => ({
  url: `${url}/v1/projects/p/messages:send`,
  headers: { "Content-Type": "application/json; charset=UTF-8" },
  body: '{"message":{}}',
  timeoutMs,
  maxResponseBytes,
});

Deno.test("http1 transport: status, headers and body, Content-Length and chunked", async () => {
  const client = new Http1Client();
  const send = http1Transport(client);
  try {
    await withServer(async (r) => {
      const body = await r.text();
      if (new URL(r.url).searchParams.has("chunked")) {
        const stream = ReadableStream.from(
          ['{"a":', '"é"}'].map((s) => new TextEncoder().encode(s)),
        );
        return new Response(stream, { status: 503, headers: { "Retry-After": "7" } });
      }
      return Response.json({ echo: body }, { status: 200 });
    }, async (url) => {
      const plain = await send(request(url));
      assert.equal(plain.status, 200);
      assert.deepEqual(JSON.parse(plain.body), { echo: '{"message":{}}' });
      assert.equal(plain.truncated, false);
      const chunked = await send({ ...request(url), url: `${url}/x?chunked` });
      assert.equal(chunked.status, 503);
      assert.equal(chunked.headers.get("retry-after"), "7");
      assert.equal(chunked.body, '{"a":"é"}');
      // The connection is reused after both kinds of body.
      assert.equal((await send(request(url))).status, 200);
      assert.equal(client.connections, 1);
    });
  } finally {
    client.close();
  }
});

Deno.test("http1 transport: a long body is cut at maxResponseBytes", async () => {
  const client = new Http1Client();
  try {
    await withServer(() => new Response("x".repeat(5000)), async (url) => {
      const answer = await http1Transport(client)(request(url, 100));
      assert.equal(answer.body, "x".repeat(100));
      assert.equal(answer.truncated, true);
    });
  } finally {
    client.close();
  }
});

Deno.test("http1 transport: a timeout rejects with HttpTimeoutError", async () => {
  const client = new Http1Client();
  try {
    await withServer(async () => {
      await new Promise((r) => setTimeout(r, 1500));
      return new Response("late");
    }, async (url) => {
      await assert.rejects(http1Transport(client)(request(url, 100, 200)), HttpTimeoutError);
    });
  } finally {
    client.close();
  }
});
