import xmlLib from "@xmpp/xml";
const { Parser } = xmlLib;
for (const t of ["</a>", "text<a>", "<a></a></a>", "<a><b></a>", "<a>x</a>y<b/>", "<a b='&#x110000;'/>", "<a>&#99999999999999999999;</a>", "<a>&#xD800;</a>","<a><![CDATA[&lol;]]></a>", "<a><!-- &lol; --></a>", "<?xml &lol; ?><a/>"]) {
  const p = new Parser();
  const ev: string[] = [];
  p.on("start", (e: any) => ev.push("start " + e));
  p.on("element", (e: any) => ev.push("element " + e));
  p.on("end", (e: any) => ev.push("end " + e));
  p.on("error", (e: any) => ev.push("error " + e.message));
  try { p.write(t); } catch (e) { ev.push("THROW " + e); }
  console.log(JSON.stringify(t), ev);
}
