import { ClientLink } from "../../adapters/xmpp/client_link.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const logger = new RecordingLogger();
const link = new ClientLink({ service: `xmpp://127.0.0.1:${listener.addr.port}`, jid: "push@localhost", password: "s", tls: { required: true }, logger, onPublish: () => Promise.resolve({ kind: "pushed" }), backoff: { initialMs: 20, maxMs: 50 }, keepaliveMs: 0 });
link.start();
const t0 = performance.now();
const dec = new TextDecoder(); const buf = new Uint8Array(65536);
for (let i = 0; i < 3; i++) {
  const conn = await listener.accept();
  console.log(i, "accepted", performance.now() - t0);
  let s = "";
  (async () => { try { while (true) { const n = await conn.read(buf); if (n === null) break; s = dec.decode(buf.subarray(0, n)); console.log(i, performance.now() - t0, JSON.stringify(s)); } } catch (e) { console.log(i, "read err", String(e)); } })();
  await new Promise((r) => setTimeout(r, 100));
  await conn.write(new TextEncoder().encode(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'><stream:features>&lol;</stream:features>`));
}
console.log(logger.text());
await link.stop(); listener.close();
