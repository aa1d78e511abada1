/**
 * Keeps bad XML from the XMPP server from crashing the process.
 *
 * `@xmpp/connection` (0.13 and 0.14) hands every chunk the socket reads to its XML parser
 * from the socket's `data` listener, and two inputs make that listener throw, which nothing
 * catches, so the whole push server dies:
 *
 * - an entity reference ltx does not know (`&lol;`, `&#0;`): ltx's unescaping throws out of
 *   `parser.write` instead of emitting the parser's `error` event;
 * - any data after the parser reported an error: the library detaches the parser (sets it
 *   to null) and sends a stream error, but the socket may still deliver data before it
 *   closes, and `null.write` throws.
 *
 * {@link guardXmlInput} wraps the connection's `_onData` (an instance override, taken when
 * the socket is attached): data arriving once the parser is gone is dropped, and a throw
 * becomes the parser's `error` event, which the library answers like any malformed XML
 * (a `bad-format` stream error, then a disconnect the link recovers from).
 *
 * ltx never expands DOCTYPE-defined or external entities: it skips a DOCTYPE like a comment
 * and only knows the five predefined entities and character references.
 *
 * Neither the library nor ltx bounds the size of a stanza: the parser builds the element
 * as it arrives, however long it grows. The guard counts the bytes received since the
 * last complete stanza and, past `maxStanzaBytes`, ends the stream with a
 * `policy-violation` stream error (RFC 6120's condition for a stanza over a size limit),
 * dropping what is still buffered. The parser does not say where in a read a stanza ended,
 * so reads are handed to it in slices of an eighth of the limit and the count restarts
 * after a slice in which a stanza ended: a stanza up to the limit always passes, one over
 * the limit by more than a slice never does.
 *
 * ltx also takes any `<!` (a DOCTYPE, a comment) as the start of a comment and then
 * swallows the stream up to a later `>`: a peer could make publishes vanish while the link
 * looked up. RFC 6120 forbids such markup, so the guard ends the stream with
 * `restricted-xml` as soon as it sees `<!` other than a CDATA section.
 *
 * @module
 */

import { MarkupDeclarationScanner } from "./markup_declaration_scanner.ts";

/** What the guard needs of an `@xmpp/connection` entity (the library ships no types). */
interface XmppConnection {
  parser: { emit(event: "error", error: unknown): unknown } | null;
  _onData(data: unknown): void;
  emit(event: "error", error: unknown): unknown;
  on(event: "element" | "connect", listener: () => void): unknown;
  _streamError(condition: string): Promise<unknown>;
  _detachParser(): void;
}

/** The largest stanza accepted when the caller names no limit. */
export const DEFAULT_MAX_STANZA_BYTES = 1024 * 1024;

/** Settings of {@link guardXmlInput}. */
export interface XmlInputGuardOptions {
  /** Bytes a single stanza may take (default {@link DEFAULT_MAX_STANZA_BYTES}). */
  readonly maxStanzaBytes?: number;
  /** Told when a stanza went over the limit (the stream is then ended). */
  readonly onTooLarge?: () => void;
  /** Told when the peer sent `<!` markup other than CDATA (the stream is then ended). */
  readonly onRestrictedXml?: () => void;
}

/**
 * Makes `xmpp`'s socket input handler unable to throw, and bounds the size of a stanza;
 * call before `start()`.
 */
export function guardXmlInput(xmpp: XmppConnection, options: XmlInputGuardOptions = {}): void {
  const maxBytes = options.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES;
  const sliceBytes = Math.max(512, Math.floor(maxBytes / 8));
  /** Bytes received since the slice in which the last stanza ended. */
  let pending = 0;
  const markup = new MarkupDeclarationScanner();
  xmpp.on("element", () => pending = 0);
  xmpp.on("connect", () => {
    pending = 0;
    markup.reset();
  });
  /** Ends the stream with `condition`, dropping what is buffered. */
  const fail = (connection: XmppConnection, condition: string, reason: string): false => {
    connection._streamError(condition).catch(() => {});
    connection._detachParser();
    connection.emit("error", new Error(reason));
    return false;
  };
  const onData = xmpp._onData;
  /** Hands one slice to the library; false once the stream has failed. */
  const feed = (connection: XmppConnection, piece: unknown, size: number): boolean => {
    pending += size;
    if ((typeof piece === "string" || piece instanceof Uint8Array) && markup.push(piece)) {
      options.onRestrictedXml?.();
      return fail(connection, "restricted-xml", "the server sent <! markup: stream closed");
    }
    try {
      onData.call(connection, piece);
    } catch (error) {
      // After the parser's own error listener ran, the parser may be detached already.
      if (connection.parser) connection.parser.emit("error", error);
      else connection.emit("error", error);
    }
    if (connection.parser === null) return false;
    if (pending <= maxBytes) return true;
    pending = 0;
    options.onTooLarge?.();
    // As the library does for malformed XML, with the condition for a size limit.
    return fail(
      connection,
      "policy-violation",
      `stanza larger than ${maxBytes} bytes: stream closed`,
    );
  };
  xmpp._onData = function (this: XmppConnection, data: unknown): void {
    if (this.parser === null) return; // The stream already failed and is being closed.
    if (!(data instanceof Uint8Array) || data.length <= sliceBytes) {
      const size = typeof data === "string" || data instanceof Uint8Array ? data.length : 0;
      feed(this, data, size);
      return;
    }
    // A Buffer from the socket: its slices are Buffers too, cut between UTF-8 sequences.
    for (let start = 0; start < data.length;) {
      let end = Math.min(data.length, start + sliceBytes);
      while (end < data.length && end > start + 1 && (data[end] & 0xc0) === 0x80) end--;
      if (!feed(this, data.subarray(start, end), end - start)) return;
      start = end;
    }
  };
}
