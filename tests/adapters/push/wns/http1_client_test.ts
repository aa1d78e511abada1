import assert from "node:assert/strict";
import { Http1Client, Http1ProtocolError } from "../../../../adapters/push/wns/http1_client.ts";
import { startFakeWns } from "../../../../adapters/push/wns/fake_wns_server.ts";
import { testCertificate } from "../../../support/tls_cert.ts";

const BODY = new TextEncoder().encode('{"a":1}');

/**
 * A raw HTTP server on loopback: reads each request head and body, then lets `answer`
 * write bytes (and maybe close). Returns the port and the requests seen.
 */
function rawServer(
  answer: (conn: Deno.Conn, request: string, index: number) => Promise<void>,
): { port: number; requests: string[]; accepted: () => number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      tasks.push((async () => {
        const buffer = new Uint8Array(65536);
        let text = "";
        try {
          while (true) {
            const end = text.indexOf("\r\n\r\n");
            const length = end === -1
              ? -1
              : Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
            if (end !== -1 && text.length >= end + 4 + length) {
              const request = text.slice(0, end + 4 + length);
              text = text.slice(request.length);
              requests.push(request);
              await answer(conn, request, requests.length - 1);
              continue;
            }
            const n = await conn.read(buffer);
            if (n === null) break;
            text += new TextDecoder().decode(buffer.subarray(0, n));
          }
        } catch {
          // Closed by the test.
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // Closed by the answer.
          }
        }
      })());
    }
  })();
  return {
    port: listener.addr.port,
    requests,
    accepted: () => accepted,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await loop;
      await Promise.all(tasks);
    },
  };
}

async function write(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

Deno.test("Http1Client: POSTs to the fake WNS, reuses the connection, sends the target as given", async () => {
  await using fake = await startFakeWns();
  const token = await (await fetch(fake.tokenUrl, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: fake.packetId,
      client_secret: fake.clientSecret,
      scope: "notify.windows.com",
    }),
  })).json();
  const client = new Http1Client();
  try {
    const uri = fake.channelUri();
    const headers = {
      "Authorization": `Bearer ${token.access_token}`,
      "X-WNS-Type": "wns/raw",
      "Content-Type": "application/octet-stream",
    };
    for (let i = 0; i < 3; i++) {
      const answer = await client.post(uri, headers, BODY, 2000);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get("X-WNS-Status"), "received");
      assert.equal(answer.headers.get("x-wns-status"), "received");
      assert.equal(answer.headers.get("nothing"), null);
    }
    assert.equal(client.connections, 1);
    const pushes = await fake.waitForPushes(3, 1000);
    assert.equal(pushes[2].body, '{"a":1}');
    // The percent-encoded token arrived exactly as given (the fake matched the channel).
    assert.equal(fake.requests.at(-1)!.path, uri.slice(fake.url.length));
    const missing = await client.post(`${fake.url}/channel/unknown?token=x`, headers, BODY, 2000);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("X-WNS-Error-Description"), "Channel not found");
  } finally {
    client.close();
  }
});

Deno.test("Http1Client: chunked, close-delimited and 1xx answers; Connection: close", async () => {
  const server = rawServer(async (conn, _request, index) => {
    if (index === 0) {
      await write(conn, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\n");
      await write(conn, "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0;x=y\r\nT: z\r\n\r\n");
    } else if (index === 1) {
      await write(conn, "HTTP/1.1 410 Gone\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
    } else {
      await write(conn, "HTTP/1.0 503 Busy\r\n\r\nsome body until the end");
      conn.close();
    }
  });
  const client = new Http1Client();
  try {
    const url = `http://127.0.0.1:${server.port}/channel/x?token=%2bA`;
    const first = await client.post(url, { "X-Test": "1" }, BODY, 2000);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("x-a"), "1, 2");
    const second = await client.post(url, {}, BODY, 2000);
    assert.equal(second.status, 410);
    assert.equal(server.accepted(), 1, "the chunked answer left the connection usable");
    const third = await client.post(url, {}, BODY, 2000);
    assert.equal(third.status, 503);
    assert.equal(server.accepted(), 2, "Connection: close was honoured");
    assert.equal(client.connections, 0, "a close-delimited answer is not reused");
    assert.match(server.requests[0], /^POST \/channel\/x\?token=%2bA HTTP\/1\.1\r\n/);
    assert.match(server.requests[0], /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    assert.match(server.requests[0], /\r\nContent-Length: 7\r\n\r\n\{"a":1\}$/);
    assert.doesNotMatch(server.requests[0], /chunked|Expect/i);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("Http1Client: a connection the server closed while idle is replaced once", async () => {
  const server = rawServer(async (conn) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    // Keep-alive said yes, but the server drops the connection right after.
    conn.close();
  });
  const client = new Http1Client();
  try {
    const url = `http://127.0.0.1:${server.port}/`;
    assert.equal((await client.post(url, {}, BODY, 2000)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await client.post(url, {}, BODY, 2000)).status, 200);
    assert.equal(server.accepted(), 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("Http1Client: times out, refuses what it will not send, reports bad answers", async () => {
  const server = rawServer(async (conn, request) => {
    if (request.includes("slow")) return; // Never answers.
    await write(conn, "SMTP ready\r\n\r\n");
  });
  const client = new Http1Client();
  try {
    const started = Date.now();
    const timeout = await client.post(`http://127.0.0.1:${server.port}/slow`, {}, BODY, 150)
      .catch((error) => error);
    assert.ok(timeout instanceof DOMException && timeout.name === "TimeoutError", `${timeout}`);
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(
      client.post(`http://127.0.0.1:${server.port}/`, {}, BODY, 1000),
      Http1ProtocolError,
    );
    await assert.rejects(client.post("ftp://x/", {}, BODY, 100), TypeError);
    await assert.rejects(client.post("http://u:p@x/", {}, BODY, 100), TypeError);
    await assert.rejects(client.post("http://x/a b", {}, BODY, 100), TypeError);
    await assert.rejects(client.post("http://x/", { "X-A": "1\r\nX-B: 2" }, BODY, 100), TypeError);
    await assert.rejects(client.post("http://x/", { "Content-Length": "1" }, BODY, 100), TypeError);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = listener.addr.port;
    listener.close();
    const refused = await client.post(`http://127.0.0.1:${closedPort}/`, {}, BODY, 1000)
      .catch((error) => error);
    assert.ok(refused instanceof Error && !String(refused).includes("/"), String(refused));
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("Http1Client: https with a given CA, SNI and keep-alive", async () => {
  const { cert, key } = await testCertificate();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} },
    async (request) => {
      await request.arrayBuffer();
      return new Response(null, {
        status: 200,
        headers: { "X-Path": new URL(request.url).search },
      });
    },
  );
  const client = new Http1Client({ caCerts: [cert] });
  try {
    const url = `https://localhost:${server.addr.port}/?token=a%2bb`;
    for (let i = 0; i < 2; i++) {
      const answer = await client.post(url, {}, BODY, 2000);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get("x-path"), "?token=a%2bb");
    }
    assert.equal(client.connections, 1);
  } finally {
    client.close();
    await server.shutdown();
  }
});
