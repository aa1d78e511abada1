/**
 * p2's registration commands on the wire (XEP-0050 ad-hoc commands, p2.md §1–2): reading a
 * `register-push-*` / `unregister-push-*` IQ into validated fields, and building the answers
 * Conversations reads (`status="completed"`, a `form` with `jid`, `node`, `secret`). Pure:
 * elements in, elements out; the component link sends them.
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { P2Service } from "../../domain/p2_registration.ts";
import { stanzaError } from "./iq_answers.ts";
import {
  type FieldMap,
  type P2CommandRefusal,
  type P2RegisterFields,
  type P2UnregisterFields,
  parseP2CommandNode,
  parseP2RegisterFields,
  parseP2UnregisterFields,
} from "./p2_command_fields.ts";

/** XEP-0050's namespace. */
export const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

/** A register or unregister command, read and checked. */
export type P2Command =
  | {
    readonly ok: true;
    readonly action: "register";
    readonly service: P2Service;
    /** The command node as sent (echoed in the answer). */
    readonly commandNode: string;
    /** The IQ's `from`: the registering account's full JID. */
    readonly from: string;
    readonly fields: P2RegisterFields;
  }
  | {
    readonly ok: true;
    readonly action: "unregister";
    readonly service: P2Service;
    readonly commandNode: string;
    readonly from: string;
    readonly fields: P2UnregisterFields;
  };

/** Whether `iq` is an ad-hoc command set at all (for routing; it may still be refused). */
export function isCommandSet(iq: Element): boolean {
  return iq.name === "iq" && iq.attrs.type === "set" &&
    iq.getChild("command", NS_COMMANDS) !== undefined;
}

/**
 * Reads a command IQ. Refusals follow p2: an unknown node or service is `item-not-found`;
 * anything else wrong (no `from`, action other than execute, no data form, bad fields) is
 * `bad-request`. A missing action means execute (XEP-0050 §3.4).
 */
export function readP2Command(iq: Element): P2Command | P2CommandRefusal {
  const command = iq.getChild("command", NS_COMMANDS);
  if (iq.attrs.type !== "set" || command === undefined) {
    return refuse("bad-request", "not a command");
  }
  const from = typeof iq.attrs.from === "string" ? iq.attrs.from : "";
  if (from === "") return refuse("bad-request", "no sender");
  const commandNode = typeof command.attrs.node === "string" ? command.attrs.node : "";
  const action = command.attrs.action ?? "execute";
  if (action !== "execute") return refuse("bad-request", "only execute is supported");
  const node = parseP2CommandNode(commandNode);
  if (!node.ok) return node;
  const form = command.getChildren("x", NS_DATA)[0];
  if (form === undefined) return refuse("bad-request", "no data form");
  const fields = fieldMap(form);
  if (node.value.action === "register") {
    const parsed = parseP2RegisterFields(fields);
    if (!parsed.ok) return parsed;
    return {
      ok: true,
      action: "register",
      service: node.value.service,
      commandNode,
      from,
      fields: parsed.value,
    };
  }
  const parsed = parseP2UnregisterFields(fields);
  if (!parsed.ok) return parsed;
  return {
    ok: true,
    action: "unregister",
    service: node.value.service,
    commandNode,
    from,
    fields: parsed.value,
  };
}

/** A data form's fields by `var`, values in order (fields without `var` are skipped). */
export function fieldMap(form: Element): FieldMap {
  // No prototype: a field named `constructor` or `__proto__` is just another unknown field.
  const map: Record<string, string[]> = Object.create(null);
  for (const field of form.getChildren("field", NS_DATA) as Element[]) {
    const name = field.attrs.var;
    if (typeof name !== "string") continue;
    const values = field.getChildren("value", NS_DATA).map((value: Element) => value.getText());
    (map[name] ??= []).push(...values);
  }
  return map;
}

/** What the register answer carries. */
export interface P2RegisterAnswer {
  /** The app server's JID: where the account's server is to publish. */
  readonly jid: string;
  readonly node: string;
  readonly secret: string;
  /** p2 sends `System.currentTimeMillis()`; any unique string will do. */
  readonly sessionId: string;
}

/** The answer to a register command (p2.md §2): completed, with a form of jid, node, secret. */
export function registerAnswer(request: Element, answer: P2RegisterAnswer): Element {
  const command = request.getChild("command", NS_COMMANDS)!;
  return xml("iq", resultAttrs(request), registerResult(String(command.attrs.node), answer));
}

/** The `<command/>` of {@link registerAnswer}: what the result IQ carries. */
export function registerResult(commandNode: string, answer: P2RegisterAnswer): Element {
  return xml(
    "command",
    { xmlns: NS_COMMANDS, node: commandNode, sessionid: answer.sessionId, status: "completed" },
    xml(
      "x",
      { xmlns: NS_DATA, type: "form" },
      field("jid-single", "jid", answer.jid),
      field("text-single", "node", answer.node),
      field("text-single", "secret", answer.secret),
    ),
  );
}

/**
 * p2's answer to a successful unregister (p2.md §2: `new Command(node, Action.COMPLETE)`):
 * `<command node=... action="complete"/>`, no form, no status.
 */
export function p2UnregisterResult(commandNode: string): Element {
  return xml("command", { xmlns: NS_COMMANDS, node: commandNode, action: "complete" });
}

/** The answer to an unregister command: completed, no form. */
export function unregisterAnswer(request: Element, sessionId: string): Element {
  const command = request.getChild("command", NS_COMMANDS)!;
  return xml(
    "iq",
    resultAttrs(request),
    xml("command", {
      xmlns: NS_COMMANDS,
      node: command.attrs.node,
      sessionid: sessionId,
      status: "completed",
    }),
  );
}

/** The error answer for a refusal: bad-request is `modify`, item-not-found `cancel`. */
export function commandError(request: Element, refusal: P2CommandRefusal): Element {
  const type = refusal.condition === "item-not-found" ? "cancel" : "modify";
  return xml(
    "iq",
    { ...resultAttrs(request), type: "error" },
    stanzaError(type, refusal.condition, refusal.reason),
  );
}

/** The command nodes p2 offers, for disco#items on the commands node (XEP-0050 §2.2). */
export function commandItems(
  request: Element,
  appServerJid: string,
  services: readonly P2Service[],
): Element {
  const items = services.flatMap((service) => [
    xml("item", {
      jid: appServerJid,
      node: `register-push-${service}`,
      name: `Register for ${service.toUpperCase()} push`,
    }),
    xml("item", {
      jid: appServerJid,
      node: `unregister-push-${service}`,
      name: `Unregister from ${service.toUpperCase()} push`,
    }),
  ]);
  return xml(
    "iq",
    resultAttrs(request),
    xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS }, ...items),
  );
}

function resultAttrs(request: Element): Record<string, string> {
  const attrs: Record<string, string> = { type: "result", id: String(request.attrs.id ?? "") };
  if (typeof request.attrs.from === "string") attrs.to = request.attrs.from;
  if (typeof request.attrs.to === "string") attrs.from = request.attrs.to;
  return attrs;
}

function field(type: string, name: string, value: string): Element {
  return xml("field", { type, var: name }, xml("value", {}, value));
}

function refuse(condition: P2CommandRefusal["condition"], reason: string): P2CommandRefusal {
  return { ok: false, condition, reason };
}
