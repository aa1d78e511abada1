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
 * @module
 */

/** What the guard needs of an `@xmpp/connection` entity (the library ships no types). */
interface XmppConnection {
  parser: { emit(event: "error", error: unknown): unknown } | null;
  _onData(data: unknown): void;
  emit(event: "error", error: unknown): unknown;
}

/** Makes `xmpp`'s socket input handler unable to throw; call before `start()`. */
export function guardXmlInput(xmpp: XmppConnection): void {
  const onData = xmpp._onData;
  xmpp._onData = function (this: XmppConnection, data: unknown): void {
    if (this.parser === null) return; // The stream already failed and is being closed.
    try {
      onData.call(this, data);
    } catch (error) {
      // After the parser's own error listener ran, the parser may be detached already.
      if (this.parser) this.parser.emit("error", error);
      else this.emit("error", error);
    }
  };
}
