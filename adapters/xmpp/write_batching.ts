/**
 * One socket write per event-loop turn for an `@xmpp/connection` entity.
 *
 * Each publish is answered when its WNS request comes back, and answers come back a few at
 * a time. Written one by one, each answer is a TCP segment of its own, and the XMPP server
 * pays a read (and, for Prosody, a round of its event loop and its XML parser) for each.
 * {@link batchWritesPerTurn} corks the socket at the first write of a turn and uncorks it
 * once the turn's I/O callbacks have run, so what was written meanwhile leaves in one
 * write. Nothing waits longer than that turn.
 *
 * For the component link only: the client link's stream management counts what it sends,
 * and gains nothing here (its traffic is a user's, not a stream of answers).
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** What batching needs of an `@xmpp/connection` entity (the library ships no types). */
interface XmppConnection {
  socket: { cork(): void; uncork(): void } | null;
  write(string: string): Promise<void>;
}

/** Makes every write of one event-loop turn leave the socket as one write. */
export function batchWritesPerTurn(entity: XmppConnection): void {
  const write = entity.write.bind(entity);
  let corked: XmppConnection["socket"] = null;
  entity.write = (string: string) => {
    const socket = entity.socket;
    if (socket && corked !== socket) {
      socket.cork();
      corked = socket;
      setImmediate(() => {
        corked = null;
        socket.uncork();
      });
    }
    return write(string);
  };
}
