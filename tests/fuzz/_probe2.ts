import xmlLib from "@xmpp/xml";
const { Parser } = xmlLib;
function run(text: string) {
  const p = new Parser();
  const events: string[] = [];
  p.on("start", (e: any) => events.push("start " + e.name));
  p.on("element", (e: any) => events.push("element " + e.toString().slice(0, 200)));
  p.on("error", (e: any) => events.push("error " + e.message));
  p.on("end", () => events.push("end"));
  try { p.write(text); p.end(); } catch (e) { events.push("THROW " + (e as Error).message); }
  return events;
}
const lol = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'><iq type='set'><x>&lol3;</x></iq><iq type='get'/></stream:stream>`;
console.log(run(lol));
console.log(run(`<stream><iq><x>&lol3;</x></iq></stream>`));
console.log(run(`<stream><iq a='&lol;'/></stream>`));
console.log(run(`<stream><iq>&#0;</iq></stream>`));
console.log(run(`<stream><!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><iq>&a;</iq><iq2/></stream>`));
console.log(run(`<stream><iq>& ;</iq><iq>a & b</iq><x>&amp</x></stream>`));
