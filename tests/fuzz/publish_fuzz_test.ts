/**
 * Property tests of publish handling (component mode), through `MemoryXmppLink` with the
 * real parsing, use case and in-memory adapters: generated publishes with unexpected
 * elements and namespaces, missing parts, duplicate fields, huge values and odd node names
 * get exactly the answer a model predicts, and a push only when node, secret and structure
 * are right. Mangled stanza text and entity tricks never crash anything, expand nothing,
 * and never push.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { xml } from "@xmpp/component";
import xmlLib, { type Element } from "@xmpp/xml";
import { MemoryStore } from "../../adapters/storage/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/wns/memory_wns_sender.ts";
import { MemoryXmppLink } from "../../adapters/xmpp/memory_link.ts";
import { NS_DATA, NS_PUBSUB, NS_PUSH } from "../../adapters/xmpp/publish_stanza.ts";
import { guardXmlInput } from "../../adapters/xmpp/xml_input_guard.ts";
import { PushService } from "../../app/push_service.ts";
import { countsFromSummary, type SummaryFields } from "../../domain/push_summary.ts";
import { pushPayload } from "../../domain/wns_payload.ts";
import { FakeClock } from "../support/fakes.ts";
import { parseXml } from "../support/parse_xml.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { check, checkAsync } from "./fuzz_params.ts";

const { Parser } = xmlLib;

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";
const SUMMARY_FORM = "urn:xmpp:push:summary";
const CHANNEL = "https://db5p.notify.windows.com/?token=chan1";
const NODE = "Xq3_nOde-7hZ1kP0";
const SECRET = "s3cr3t_Of-Exactly-32-characters";
const ACCOUNT = "ACC1";
const MAX_FIELD_LENGTH = 1024;

/** One registered account, and the link in front of the real publish use case. */
async function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const service = new PushService({ store, wns, clock, logger });
  const link = new MemoryXmppLink("push.localhost", (r) => service.handlePublish(r), logger);
  const expiresAt = clock.now() + 60_000;
  await store.saveChannel("dev1", CHANNEL, 2, expiresAt);
  await store.replaceAccounts("dev1", [{ accountId: ACCOUNT, node: NODE, secret: SECRET }], expiresAt);
  return { wns, logger, link };
}

/** The answer as the user's server reads it. */
function answerOf(answer: Element): string {
  assert.equal(answer.name, "iq");
  if (answer.attrs.type === "result") return "result";
  assert.equal(answer.attrs.type, "error", answer.toString());
  const error = answer.getChild("error");
  assert.ok(error, answer.toString());
  const condition = error.getChildElements().find((c: Element) =>
    c.getNS() === NS_STANZAS && c.name !== "text"
  );
  return `${error.attrs.type}/${condition?.name}`;
}

// ---- the generated publishes, and what the model expects of them ----

interface FieldSpec {
  readonly var?: string;
  readonly values: readonly string[];
}
interface FormSpec {
  readonly xmlns?: string;
  readonly fields: readonly FieldSpec[];
}
interface NotificationSpec {
  readonly name: string;
  readonly xmlns?: string;
  readonly forms: readonly FormSpec[];
}
interface ItemSpec {
  readonly name: string;
  readonly notifications: readonly NotificationSpec[];
}
interface PublishSpec {
  readonly name: string;
  readonly node?: string;
  readonly items: readonly ItemSpec[];
}
interface OptionsSpec {
  readonly name: string;
  readonly forms: readonly FormSpec[];
}
interface IqSpec {
  readonly type: string;
  /** An unrelated element before `<pubsub>`. */
  readonly leading: boolean;
  readonly pubsubXmlns: string;
  readonly publishes: readonly PublishSpec[];
  readonly options: readonly OptionsSpec[];
  readonly optionsFirst: boolean;
  /** Unknown elements sprinkled at every level. */
  readonly noise: readonly Noise[];
}
interface Noise {
  readonly name: string;
  readonly xmlns?: string;
  readonly text: string;
}

/** Mostly the right thing, sometimes something else. */
const mostly = <T>(right: T, ...wrong: fc.Arbitrary<T>[]) =>
  fc.oneof({ arbitrary: fc.constant(right), weight: 4 }, ...wrong);

const hugeText = fc.integer({ min: 1000, max: 20_000 }).map((n) => "9".repeat(n));
const oddText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }).map((s) => s.replaceAll("\0", "")),
  fc.constantFrom("", " ", "\t\n", "😀", "\u202e", "]]>", "&amp;", "<x/>", "'\""),
);
const countText = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom("", " 3 ", "-1", "1e3", "0x10", "٣", "99999999999999999999999"),
);
const fieldValue = fc.oneof(
  { arbitrary: countText, weight: 3 },
  { arbitrary: oddText, weight: 2 },
  { arbitrary: fc.constantFrom(SECRET, OPTIONS_FORM, SUMMARY_FORM), weight: 2 },
  { arbitrary: hugeText, weight: 1 },
);
const namespace = fc.constantFrom(
  NS_PUSH,
  NS_DATA,
  NS_PUBSUB,
  "urn:xmpp:push:1",
  "jabber:x:data ",
  "JABBER:X:DATA",
  "urn:example:other",
);

const noise: fc.Arbitrary<Noise> = fc.record({
  name: fc.constantFrom("foo", "body", "delay", "summary", "x-data", "ext", "a.b-c"),
  xmlns: fc.option(namespace, { nil: undefined }),
  text: oddText,
}, { requiredKeys: ["name", "text"] });

const field = (names: fc.Arbitrary<string>): fc.Arbitrary<FieldSpec> =>
  fc.record({
    var: fc.option(names, { nil: undefined, freq: 8 }),
    values: fc.array(fieldValue, { maxLength: 2 }),
  }, { requiredKeys: ["values"] });

const form = (
  formType: string,
  names: fc.Arbitrary<string>,
): fc.Arbitrary<FormSpec> =>
  fc.record({
    xmlns: fc.option(mostly(NS_DATA, namespace), { nil: undefined, freq: 8 }),
    fields: fc.tuple(
      fc.option(
        fc.record({
          var: fc.constant("FORM_TYPE"),
          values: fc.oneof(
            { arbitrary: fc.constant([formType]), weight: 5 },
            { arbitrary: fc.array(fieldValue, { maxLength: 2 }), weight: 1 },
          ),
        }),
        { nil: undefined, freq: 6 },
      ),
      fc.array(field(names), { maxLength: 5 }),
    ).chain(([formTypeField, others]) =>
      // FORM_TYPE anywhere among the fields.
      fc.nat({ max: others.length }).map((at) =>
        formTypeField ? [...others.slice(0, at), formTypeField, ...others.slice(at)] : others
      )
    ),
  }, { requiredKeys: ["fields"] });

const summaryForm = form(
  SUMMARY_FORM,
  fc.constantFrom(
    "message-count",
    "pending-subscription-count",
    "last-message-sender",
    "last-message-body",
    "FORM_TYPE",
    "__proto__",
    "constructor",
  ),
);
const optionsForm = form(OPTIONS_FORM, fc.constantFrom("secret", "FORM_TYPE", "__proto__", "x"));

const notification: fc.Arbitrary<NotificationSpec> = fc.record({
  name: mostly("notification", fc.constantFrom("Notification", "notify")),
  xmlns: fc.option(mostly(NS_PUSH, namespace), { nil: undefined, freq: 8 }),
  forms: fc.array(summaryForm, { maxLength: 2 }),
}, { requiredKeys: ["name", "forms"] });

const item: fc.Arbitrary<ItemSpec> = fc.record({
  name: mostly("item", fc.constantFrom("items", "Item")),
  notifications: fc.array(notification, { minLength: 0, maxLength: 2 }),
});

const nodeName = fc.oneof(
  { arbitrary: fc.constant(NODE), weight: 6 },
  {
    arbitrary: fc.constantFrom(
      "",
      " ",
      `${NODE} `,
      ` ${NODE}`,
      NODE.toUpperCase(),
      `${NODE}\n`,
      `${NODE}\u0000`,
      "../../etc/passwd",
      "__proto__",
      "constructor",
    ),
    weight: 2,
  },
  { arbitrary: oddText, weight: 1 },
  { arbitrary: hugeText, weight: 1 },
);

const publish: fc.Arbitrary<PublishSpec> = fc.record({
  name: mostly("publish", fc.constantFrom("Publish", "retract", "publish-options")),
  node: fc.option(nodeName, { nil: undefined, freq: 8 }),
  items: fc.array(item, { maxLength: 2 }),
}, { requiredKeys: ["name", "items"] });

const options: fc.Arbitrary<OptionsSpec> = fc.record({
  name: mostly("publish-options", fc.constantFrom("options", "publish")),
  forms: fc.array(optionsForm, { maxLength: 2 }),
});

const iqSpec: fc.Arbitrary<IqSpec> = fc.record({
  type: mostly("set", fc.constantFrom("get", "result", "error", "SET", "")),
  leading: fc.boolean().map((b) => b && Math.random() < 0), // placeholder, replaced below
  pubsubXmlns: mostly(NS_PUBSUB, fc.constantFrom(`${NS_PUBSUB}#owner`, NS_PUSH, "")),
  publishes: fc.array(publish, { minLength: 0, maxLength: 2 }),
  options: fc.array(options, { maxLength: 2 }),
  optionsFirst: fc.boolean(),
  noise: fc.array(noise, { maxLength: 3 }),
});
