/**
 * Finds `<!` markup (DOCTYPE, comments, other declarations) in an XMPP stream. RFC 6120
 * forbids all of it (`restricted-xml`); ltx, the library's parser, instead takes `<!` as the
 * start of a comment and swallows everything after it until `>` of a matching end, so a
 * peer that sends `<!DOCTYPE` made every later publish vanish while the link looked up.
 * CDATA sections are allowed, and their content is not markup.
 *
 * @module
 */

const CDATA_OPEN = "<![CDATA[";
const CDATA_CLOSE = "]]>";

/** Scans a stream chunk by chunk; markers split across chunks are found too. */
export class MarkupDeclarationScanner {
  /** The end of the previous chunk that may begin a marker. */
  #carry = "";
  #inCdata = false;

  /** A new stream starts. */
  reset(): void {
    this.#carry = "";
    this.#inCdata = false;
  }

  /** Feeds the next chunk; true when it holds forbidden `<!` markup. */
  push(chunk: Uint8Array | string): boolean {
    // Latin-1 keeps one character per byte: the markers are ASCII, and UTF-8 never
    // produces ASCII bytes inside a multi-byte character.
    let text = this.#carry +
      (typeof chunk === "string" ? chunk : latin1.decode(chunk));
    this.#carry = "";
    while (text.length > 0) {
      if (this.#inCdata) {
        const end = text.indexOf(CDATA_CLOSE);
        if (end === -1) {
          this.#carry = text.slice(-(CDATA_CLOSE.length - 1));
          return false;
        }
        this.#inCdata = false;
        text = text.slice(end + CDATA_CLOSE.length);
        continue;
      }
      const start = text.indexOf("<!");
      if (start === -1) {
        if (text.endsWith("<")) this.#carry = "<";
        return false;
      }
      const rest = text.slice(start, start + CDATA_OPEN.length);
      if (rest.length < CDATA_OPEN.length && CDATA_OPEN.startsWith(rest)) {
        this.#carry = text.slice(start);
        return false;
      }
      if (rest !== CDATA_OPEN) return true;
      this.#inCdata = true;
      text = text.slice(start + CDATA_OPEN.length);
    }
    return false;
  }
}

const latin1 = new TextDecoder("latin1");
