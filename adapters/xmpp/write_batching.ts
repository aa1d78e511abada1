/**
 * Batched socket writes for an `@xmpp/connection` entity: what is written within
 * {@link WRITE_WINDOW_MS} leaves in one write.
 *
 * Each publish is answered when its WNS request comes back, and answers come back one or a
 * few at a time. Written one by one, each answer is a TCP segment of its own, and the XMPP
 * server pays a read (for Prosody, a round of its event loop and of its XML parser) for
 * each. {@link batchWrites} corks the socket at the first write and uncorks it a
 * millisecond later. Measured through Prosody (`deno task bench push-prosody`): Prosody's
 * CPU per publish and the push rate move from about 0.8 of the null component's to about
 * 0.9-1.0; an answer waits at most the window (WNS itself takes tens of milliseconds).
 *
 * For the component link only: the client link's stream management counts what it sends,
 * and gains nothing here (its traffic is a user's, not a stream of answers).
 *
 * @module
 */

/** How long the first write of a batch may wait for others. */
export const WRITE_WINDOW_MS = 1;

/** What batching needs of an `@xmpp/connection` entity (the library ships no types). */
interface XmppConnection {
  socket: { cork(): void; uncork(): void } | null;
  write(string: string): Promise<void>;
}

/** Makes the writes of each {@link WRITE_WINDOW_MS} window leave the socket as one write. */
export function batchWrites(entity: XmppConnection): void {
  const write = entity.write.bind(entity);
  let corked: XmppConnection["socket"] = null;
  entity.write = (string: string) => {
    const socket = entity.socket;
    if (socket && corked !== socket) {
      socket.cork();
      corked = socket;
      setTimeout(() => {
        corked = null;
        socket.uncork();
      }, WRITE_WINDOW_MS);
    }
    return write(string);
  };
}
