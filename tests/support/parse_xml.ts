/**
 * Parses an XML document (a whole stanza) into an `@xmpp/xml` element, as the component
 * library would hand it to the adapters.
 *
 * @module
 */

import xmppXml, { type Element } from "@xmpp/xml";

// A CommonJS module whose named exports Deno cannot see statically: take them from the default.
const { Parser } = xmppXml;

/** Parses `text`; throws on malformed XML. */
export function parseXml(text: string): Element {
  const parser = new Parser();
  let root: Element | null = null;
  let error: Error | null = null;
  parser.on("start", (element: Element) => {
    root = element;
  });
  parser.on("element", (element: Element) => {
    root.append(element);
  });
  parser.on("error", (e: Error) => {
    error = e;
  });
  parser.write(text);
  parser.end();
  if (error) throw error;
  if (root === null) throw new Error("no XML element in the text");
  return root;
}

/** Reads a stanza captured from a real server, in `tests/fixtures/xmpp/`. */
export function fixtureStanza(name: string): Element {
  return parseXml(
    Deno.readTextFileSync(new URL(`../fixtures/xmpp/${name}`, import.meta.url)),
  );
}

/**
 * Name, sorted attributes, element children and non-blank text: what two stanzas must share
 * to be the same, layout whitespace ignored (compare with `assert.deepEqual`).
 */
export function canonicalXml(element: Element): unknown {
  return {
    name: element.name,
    attrs: Object.fromEntries(Object.entries(element.attrs).sort(([a], [b]) => a.localeCompare(b))),
    children: element.children.flatMap((child: Element | string) =>
      typeof child === "string" ? (child.trim() === "" ? [] : [child]) : [canonicalXml(child)]
    ),
  };
}
