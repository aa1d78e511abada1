/**
 * The WNS POST alone, client against client: authorized raw-notification POSTs to the fake
 * WNS in its own process, `--concurrency` outstanding, through each client in turn for
 * `--rounds` alternating rounds. Prints requests/s and the CPU µs per request of this
 * process (the client's whole cost: nothing else runs here). Not a `bench/main.ts` scenario:
 * it compares transports, it does not measure the server.
 *
 * `deno run -A bench/http_client_ab.ts --count=20000 --concurrency=64 --rounds=5`
 *
 * @module
 */

import { Http1Client } from "../adapters/push/wns/http1_client.ts";
import { UndiciWnsTransport } from "./undici_transport.ts";
import { startFakeWnsProcess } from "./fake_wns.ts";
import { cpuMicros } from "./push_driver.ts";
import { Flags } from "./scenario.ts";

type Post = (
  url: string,
  headers: Record<string, string>,
  body: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
) => Promise<{ status: number }>;

interface Candidate {
  readonly name: string;
  open(): { post: Post; close(): unknown };
}

const CANDIDATES: readonly Candidate[] = [
  {
    name: "http1_client",
    open() {
      const client = new Http1Client();
      return { post: client.post.bind(client), close: () => client.close() };
    },
  },
  {
    name: "undici",
    open() {
      const client = new UndiciWnsTransport();
      return { post: client.post.bind(client), close: () => client.close() };
    },
  },
  {
    name: "fetch",
    open() {
      const client = Deno.createHttpClient({ http1: true, http2: false });
      return {
        post: async (url, headers, body, timeoutMs) => {
          const response = await fetch(url, {
            method: "POST",
            headers,
            body,
            redirect: "manual",
            signal: AbortSignal.timeout(timeoutMs),
            client,
          });
          await response.arrayBuffer();
          return { status: response.status };
        },
        close: () => client.close(),
      };
    },
  },
];

async function run(
  post: Post,
  url: string,
  headers: Record<string, string>,
  count: number,
  concurrency: number,
): Promise<{ perSecond: number; cpuUs: number }> {
  const body = new TextEncoder().encode('{"version":2,"action":"push","message_count":1}');
  let next = 0;
  const started = performance.now();
  const cpu = cpuMicros();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++;
      const answer = await post(url, headers, body, 10_000);
      if (answer.status !== 200) throw new Error(`status ${answer.status}`);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, cpuUs: (cpuMicros() - cpu) / count };
}

if (import.meta.main) {
  const { flags } = Flags.parse(Deno.args);
  const count = flags.int("count", 20_000);
  const concurrency = flags.int("concurrency", 64);
  const rounds = flags.int("rounds", 5);
  const names = flags.choices("clients", CANDIDATES.map((c) => c.name), ["http1_client", "undici"]);
  const wns = await startFakeWnsProcess();
  try {
    const token = await (await fetch(wns.tokenUrl, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: wns.packetId,
        client_secret: wns.clientSecret,
        scope: "notify.windows.com",
      }),
    })).json();
    const headers = {
      "Authorization": `Bearer ${token.access_token}`,
      "X-WNS-Type": "wns/raw",
      "Content-Type": "application/octet-stream",
      "X-WNS-RequestForStatus": "true",
      "X-WNS-Cache-Policy": "no-cache",
    };
    const url = `${wns.url}/channel/bench?token=AwYAAAD%2bA%3d%3d`;
    console.log("round client        requests/s  cpu us/request  load");
    for (let round = 1; round <= rounds; round++) {
      for (const candidate of CANDIDATES.filter((c) => names.includes(c.name))) {
        const client = candidate.open();
        try {
          await run(client.post, url, headers, Math.min(count, 2000), concurrency); // warm-up
          const result = await run(client.post, url, headers, count, concurrency);
          console.log(
            `${String(round).padEnd(6)}${candidate.name.padEnd(14)}` +
              `${Math.round(result.perSecond).toString().padStart(10)}` +
              `${result.cpuUs.toFixed(1).padStart(16)}  ${Deno.loadavg()[0].toFixed(2)}`,
          );
        } finally {
          await client.close();
        }
      }
    }
  } finally {
    await wns.close();
  }
}
