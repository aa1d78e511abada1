import assert from "node:assert/strict";
import { MarkupDeclarationScanner } from "../../../adapters/xmpp/markup_declaration_scanner.ts";

const encoder = new TextEncoder();

function scan(...chunks: string[]): boolean {
  const scanner = new MarkupDeclarationScanner();
  return chunks.some((chunk) => scanner.push(encoder.encode(chunk)));
}

Deno.test("markup scanner: DOCTYPE, comments and declarations are found, split or whole", () => {
  assert.ok(scan("<iq/><!DOCTYPE x>"));
  assert.ok(scan("<iq/><!-- c -->"));
  assert.ok(scan("<iq/><", "!DOCTYPE"));
  assert.ok(scan("<iq/><!", "[CDAT", "X"));
  assert.ok(scan("<![CDATA[ok]]><!x"));
  assert.ok(scan("<![CDATA[ok]", "]><!x"));
});

Deno.test("markup scanner: CDATA and ordinary XML pass, also when split", () => {
  assert.equal(scan("<?xml version='1.0'?><stream:stream><iq id='a'>x &lt;! y</iq>"), false);
  assert.equal(scan("<body><![CDATA[a <!DOCTYPE inside> b]]></body>"), false);
  assert.equal(scan("<body><", "![CD", "ATA[a <!x", " ]", "]> </body>"), false);
  assert.equal(scan("<body>caf\u00e9 \u{1F600} <b/></body>"), false);
});

Deno.test("markup scanner: reset forgets a half-seen marker", () => {
  const scanner = new MarkupDeclarationScanner();
  assert.equal(scanner.push(encoder.encode("<a/><")), false);
  scanner.reset();
  assert.equal(scanner.push(encoder.encode("!-- -->")), false);
});
