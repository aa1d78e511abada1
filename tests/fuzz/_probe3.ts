import { ComponentLink } from "../../adapters/xmpp/component_link.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const logger = new RecordingLogger();
const link = new ComponentLink({
  service: `xmpp://127.0.0.1:${listener.addr.port}`, domain: "push.localhost", password: "s",
  logger, onPublish: () => Promise.resolve({ kind: "pushed" }), backoff: { initialMs: 100, maxMs: 200 },
});
link.start();
const conn = await listener.accept();
const buf = new Uint8Array(4096);
const dec = new TextDecoder();
const enc = new TextEncoder();
let got = "";
while (!got.includes(">")) got += dec.decode(buf.subarray(0, (await conn.read(buf))!));
await conn.write(enc.encode(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' from='push.localhost' id='abc'>`));
got = "";
while (!got.includes("</handshake>")) got += dec.decode(buf.subarray(0, (await conn.read(buf))!));
await conn.write(enc.encode("<handshake/>"));
await link.whenOnline();
console.log("online");
const arg0 = Deno.args[0]?.startsWith("@") ? Deno.readTextFileSync(Deno.args[0].slice(1)) : Deno.args[0];
await conn.write(enc.encode(arg0 ?? "<iq type='get' id='1' from='a' to='push.localhost'><x>&lol;</x></iq>"));
await new Promise((r) => setTimeout(r, 100));
if (Deno.args[1]) await conn.write(enc.encode(Deno.args[1]));
await new Promise((r) => setTimeout(r, 500));
console.log("still alive", link.online, logger.text());
conn.write(enc.encode("")).catch(()=>{});
const rd = (async () => { let s = ""; try { while (true) { const n = await conn.read(buf); if (n === null) break; s += dec.decode(buf.subarray(0, n)); } } catch {} return s; })();
const t = setTimeout(() => { try { conn.close(); } catch {} }, 300);
console.log("RECEIVED", (await rd).slice(0, 2000)); clearTimeout(t);
await link.stop(); listener.close(); try { conn.close(); } catch {}
