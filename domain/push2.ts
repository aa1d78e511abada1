/**
 * Push 2.0 (`urn:xmpp:push2:0`, webpush.md §4.2): a user's server (Prosody mod_push2) sends
 * the push service a `<notification>` whose payload it already encrypted for the client
 * (RFC 8291) with a VAPID JWT it signed with the client's key. The push service only relays:
 * it POSTs the payload to the client's endpoint. These are the relay's values and answers;
 * nothing here reads or makes ciphertext.
 *
 * @module
 */

/** RFC 8030 urgencies, as `<priority>` (and `<voip/>`) map onto them. */
export type Push2Urgency = "low" | "normal" | "high";

/** One notification to relay, validated at the edge. */
export interface Push2Notification {
  /** The client's Web Push endpoint (`<client>`). */
  readonly endpoint: string;
  readonly urgency: Push2Urgency;
  /** The encrypted body (`<encrypted><payload>`, decoded): 1 to 4096 bytes. */
  readonly body: Uint8Array;
  /** The compact JWT the user's server signed. */
  readonly jwt: string;
  /** Its public key, base64url (the `k=` of `Authorization: vapid`). */
  readonly key: string;
}

/** How the relay answers the user's server: nothing on success, a message error otherwise. */
export type Push2Answer =
  | { readonly kind: "relayed" }
  | {
    readonly kind: "error";
    /** XMPP error type: `wait` for faults that may pass, `cancel` for gone clients. */
    readonly type: "cancel" | "wait" | "modify" | "auth";
    /** RFC 6120 stanza error condition. */
    readonly condition: string;
    /** For the error's `<text/>`: never the endpoint. */
    readonly text: string;
  };
