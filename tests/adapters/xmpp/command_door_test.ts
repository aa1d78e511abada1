import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { CommandDoor } from "../../../adapters/xmpp/command_door.ts";
import { MemoryXmppLink } from "../../../adapters/xmpp/memory_link.ts";
import { registerP2Commands } from "../../../adapters/xmpp/p2_command_handlers.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { CommandRegistration } from "../../../app/use_cases/command_registration.ts";
import { appDirectory, type CommandOutcome } from "../../../domain/ports/registration_commands.ts";
import { CommandLimits } from "../../../app/command_limits.ts";
import type { PublishHandler } from "../../../domain/ports/xmpp_link.ts";
import { FakeClock, seededRandom } from "../../support/fakes.ts";
import { canonicalXml, parseXml } from "../../support/parse_xml.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const fixture = (name: string) =>
  parseXml(Deno.readTextFileSync(new URL(`../../fixtures/p2/${name}`, import.meta.url)));
const HASH = "ec164939a8485ee6b7f7871071a11c7bb18aead5";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** What Conversations' PushManagementService reads of the answer: the first command/x form. */
function conversationsReads(answer: Element): Record<string, string> {
  const form = answer.getChild("command", NS_COMMANDS)?.getChild("x", "jabber:x:data");
  const out: Record<string, string> = {};
  for (const field of form?.getChildren("field") ?? []) {
    out[field.attrs.var] = field.getChildText("value");
  }
  return out;
}

function errorOf(answer: Element): { type: string; condition: string } | null {
  if (answer.attrs.type !== "error") return null;
  const error = answer.getChild("error")!;
  const condition = error.getChildElements().find((c: Element) => c.attrs.xmlns === NS_STANZAS);
  return { type: String(error.attrs.type), condition: String(condition?.name) };
}

function setUp(
  options: {
    admit?: (server: string) => boolean;
    apps?: Parameters<typeof appDirectory>[0];
  } = {},
) {
  const clock = new FakeClock(Date.now());
  const store = new MemoryStore(clock);
  const logger = new RecordingLogger();
  const door = new CommandDoor({ logger, admit: options.admit });
  const registrations = new CommandRegistration({
    store,
    clock,
    random: seededRandom(),
    logger,
  });
  registerP2Commands(door, ["fcm", "apns"], {
    registrations,
    apps: appDirectory(
      options.apps ?? [
        { name: "conversations", service: "fcm", default: true },
        { name: "quicksy", service: "fcm" },
      ],
    ),
    jid: "p2.example.org",
    sessionId: () => "1700000000000",
  });
  const published: string[] = [];
  const onPublish: PublishHandler = (request) => {
    published.push(request.node);
    return Promise.resolve({ kind: "unknown-node" });
  };
  const link = new MemoryXmppLink("p2.example.org", onPublish, logger, door);
  return { clock, store, link, door };
}

/** The register fixture, addressed to `to`, with its fields changed. */
function registerIq(
  { to = "p2.example.org", fields, node }: {
    to?: string;
    fields?: Record<string, string | null>;
    node?: string;
  } = {},
): Element {
  const iq = fixture("register_request.stanza");
  iq.attrs.to = to;
  const command = iq.getChild("command", NS_COMMANDS)!;
  if (node !== undefined) command.attrs.node = node;
  const form = command.getChild("x", "jabber:x:data")!;
  for (const [name, value] of Object.entries(fields ?? {})) {
    const field = form.getChildren("field").find((f: Element) => f.attrs.var === name);
    if (value === null) form.remove(field);
    else if (field) field.getChild("value").children = [value];
    else form.append(parseXml(`<field var="${name}"><value>${value}</value></field>`));
  }
  return iq;
}

Deno.test("Conversations' register IQ: p2's exact answer; stored under p2's key for the default app", async () => {
  const { link, store, clock } = setUp();
  const answer = await link.receive(fixture("register_request.stanza"));
  const read = conversationsReads(answer);
  assert.equal(read.jid, "p2.example.org");
  // The same stanza as p2's, but for our node and secret.
  const expected = fixture("register_result.stanza");
  const fields = expected.getChild("command")!.getChild("x")!.getChildren("field");
  fields[1].getChild("value").children = [read.node];
  fields[2].getChild("value").children = [read.secret];
  assert.deepEqual(canonicalXml(answer), canonicalXml(expected));
  const node = await store.findNode(read.node, clock.now());
  assert.equal(node?.accountId, HASH);
  assert.deepEqual(node?.target, {
    service: "fcm",
    app: "conversations",
    address: fixture("register_request.stanza").getChild("command")!.getChild("x")!
      .getChildren("field")[0].getChildText("value"),
  });
});

Deno.test("re-registration with a new token keeps node and secret; the resource picks the app", async () => {
  const { link, store, clock } = setUp();
  const first = conversationsReads(await link.receive(registerIq()));
  const again = conversationsReads(
    await link.receive(registerIq({ fields: { token: "new-token" } })),
  );
  assert.deepEqual(again, first);
  assert.equal((await store.findNode(first.node, clock.now()))?.target?.address, "new-token");
  // device-id wins over android-id (p2 reads it first).
  const byDeviceId = conversationsReads(
    await link.receive(
      registerIq({ fields: { "device-id": "92afd7a91cdba9a0", "android-id": "x" } }),
    ),
  );
  assert.deepEqual(byDeviceId, first);
  // Another app by resource: another registration.
  const quicksy = conversationsReads(
    await link.receive(registerIq({ to: "p2.example.org/quicksy" })),
  );
  assert.notEqual(quicksy.node, first.node);
  assert.equal((await store.findNode(quicksy.node, clock.now()))?.target?.app, "quicksy");
  // An unknown app, or a service without an app: item-not-found.
  assert.deepEqual(errorOf(await link.receive(registerIq({ to: "p2.example.org/nope" }))), {
    type: "cancel",
    condition: "item-not-found",
  });
  const apns = registerIq({ node: "register-push-apns", fields: { token: "ab".repeat(32) } });
  assert.deepEqual(errorOf(await link.receive(apns)), {
    type: "cancel",
    condition: "item-not-found",
  });
});

Deno.test("bad or missing fields are bad-request; unknown command nodes item-not-found", async () => {
  const { link } = setUp();
  const cases: [Element, string, string][] = [
    [registerIq({ fields: { token: null } }), "modify", "bad-request"],
    [registerIq({ fields: { token: " " } }), "modify", "bad-request"],
    [registerIq({ fields: { "android-id": null } }), "modify", "bad-request"],
    [registerIq({ fields: { "android-id": "  " } }), "modify", "bad-request"],
    [registerIq({ fields: { muc: "room@muc.example/nick" } }), "modify", "bad-request"],
    [registerIq({ node: "register-push-wns" }), "cancel", "item-not-found"],
    [registerIq({ node: "v1-register-push" }), "cancel", "item-not-found"],
  ];
  for (const [iq, type, condition] of cases) {
    assert.deepEqual(errorOf(await link.receive(iq)), { type, condition });
  }
  // A MUC registration (dormant in Conversations) is not mixed up with the account's.
  assert.deepEqual(
    errorOf(await link.receive(registerIq({ fields: { muc: "room@muc.example" } }))),
    {
      type: "cancel",
      condition: "feature-not-implemented",
    },
  );
  const cancel = registerIq();
  cancel.getChild("command", NS_COMMANDS)!.attrs.action = "cancel";
  assert.deepEqual(errorOf(await link.receive(cancel)), {
    type: "modify",
    condition: "bad-request",
  });
  const noForm = registerIq();
  noForm.getChild("command", NS_COMMANDS)!.children = [];
  assert.deepEqual(errorOf(await link.receive(noForm)), {
    type: "modify",
    condition: "bad-request",
  });
});

Deno.test("unregister: p2's answer, the node stops resolving; again: item-not-found", async () => {
  const { link, store, clock } = setUp();
  const { node } = conversationsReads(await link.receive(registerIq()));
  const answer = await link.receive(fixture("unregister_request.stanza"));
  assert.deepEqual(canonicalXml(answer), canonicalXml(fixture("unregister_result.stanza")));
  assert.equal(await store.findNode(node, clock.now()), null);
  assert.deepEqual(errorOf(await link.receive(fixture("unregister_request.stanza"))), {
    type: "cancel",
    condition: "item-not-found",
  });
});

Deno.test("disco#info lists push and commands; disco#items on the commands node lists the nodes", async () => {
  const { link } = setUp();
  const info = await link.receive(fixture("disco_info_request.stanza"));
  const query = info.getChild("query")!;
  assert.equal(info.attrs.type, "result");
  assert.deepEqual(query.getChild("identity")!.attrs, {
    category: "pubsub",
    type: "push",
    name: "UWPX push server",
  });
  const features = query.getChildren("feature").map((f: Element) => f.attrs.var);
  for (const feature of [NS_COMMANDS, "urn:xmpp:push:0", "http://jabber.org/protocol/disco#info"]) {
    assert.ok(features.includes(feature), feature);
  }
  const items = await link.receive(
    parseXml(
      `<iq type="get" id="i1" to="p2.example.org" from="a@b/c"><query xmlns="http://jabber.org/protocol/disco#items" node="${NS_COMMANDS}"/></iq>`,
    ),
  );
  assert.deepEqual(
    items.getChild("query")!.getChildren("item").map((i: Element) => i.attrs.node),
    ["register-push-fcm", "unregister-push-fcm", "register-push-apns", "unregister-push-apns"],
  );
});

Deno.test("a flood of commands from one server is answered wait/resource-constraint", async () => {
  let left = 2;
  const servers: string[] = [];
  const { link } = setUp({
    admit: (server) => {
      servers.push(server);
      return left-- > 0;
    },
  });
  assert.equal((await link.receive(registerIq())).attrs.type, "result");
  assert.equal((await link.receive(registerIq())).attrs.type, "result");
  assert.deepEqual(errorOf(await link.receive(registerIq())), {
    type: "wait",
    condition: "resource-constraint",
  });
  assert.deepEqual(servers, ["jabber.de", "jabber.de", "jabber.de"]);
});

Deno.test("a command node served twice is refused at wiring time", () => {
  const door = new CommandDoor({ logger: new RecordingLogger() });
  door.register("register-push-webpush", "Web Push", () => Promise.resolve(parseXml("<command/>")));
  assert.throws(() =>
    door.register("register-push-webpush", "again", () => Promise.resolve(parseXml("<x/>")))
  );
});

Deno.test("outcomes that may pass are wait: storage unavailable, registration limits", async () => {
  const logger = new RecordingLogger();
  const door = new CommandDoor({ logger });
  const outcomes: CommandOutcome[] = [
    { kind: "unavailable", reason: "storage unavailable, try again later" },
    { kind: "throttled", reason: "too many new registrations" },
  ];
  registerP2Commands(door, ["fcm"], {
    registrations: {
      register: () => Promise.resolve(outcomes.shift()!),
      unregister: () => Promise.reject(new Error("boom")),
    },
    apps: appDirectory([{ name: "only", service: "fcm" }]),
    jid: "p2.example.org",
  });
  const link = new MemoryXmppLink("p2.example.org", () => Promise.reject(), logger, door);
  assert.deepEqual(errorOf(await link.receive(registerIq())), {
    type: "wait",
    condition: "internal-server-error",
  });
  assert.deepEqual(errorOf(await link.receive(registerIq())), {
    type: "wait",
    condition: "resource-constraint",
  });
  // A handler that throws is answered wait, never cancel.
  assert.deepEqual(errorOf(await link.receive(fixture("unregister_request.stanza"))), {
    type: "wait",
    condition: "internal-server-error",
  });
});

Deno.test("CommandLimits: a bucket per sending server, reported as commands_per_server", () => {
  const clock = new FakeClock();
  const reported: string[] = [];
  const limits = new CommandLimits({
    perServer: { perSecond: 1, burst: 2 },
    maxKeys: 10,
    clock,
    report: (limit, fields) => reported.push(`${limit} ${fields?.server}`),
  });
  assert.deepEqual([1, 2, 3].map(() => limits.admit("a.example")), [true, true, false]);
  assert.equal(limits.admit("b.example"), true, "another server has its own bucket");
  clock.advance(1000);
  assert.equal(limits.admit("a.example"), true, "refilled");
  assert.deepEqual(reported, ["commands_per_server a.example"]);
});

Deno.test("appDirectory: by name for its service, else the default or a service's only app", () => {
  const apps = appDirectory([
    { name: "conversations", service: "fcm", default: true },
    { name: "quicksy", service: "fcm" },
    { name: "siskin", service: "apns" },
  ]);
  assert.equal(apps.appFor("fcm", null), "conversations");
  assert.equal(apps.appFor("fcm", "quicksy"), "quicksy");
  assert.equal(apps.appFor("apns", null), "siskin", "a service's single app is its default");
  assert.equal(apps.appFor("apns", "quicksy"), null, "an app of another service");
  assert.equal(apps.appFor("webpush", null), null);
  assert.equal(apps.appFor("fcm", "nope"), null);
  const noDefault = appDirectory([{ name: "a", service: "fcm" }, { name: "b", service: "fcm" }]);
  assert.equal(noDefault.appFor("fcm", null), null);
});

Deno.test("register-push-apns: a token is what the stateless dialect takes too (64 to 512 hex, whole bytes), stored lower-case", async () => {
  const { link, store, clock } = setUp({ apps: [{ name: "monal-ios", service: "apns" }] });
  const apns = (token: string) => registerIq({ node: "register-push-apns", fields: { token } });
  for (const bad of ["ab".repeat(31), "a".repeat(65), "ab".repeat(257), "zz".repeat(32)]) {
    assert.deepEqual(errorOf(await link.receive(apns(bad))), {
      type: "modify",
      condition: "bad-request",
    }, `${bad.length} characters`);
  }
  for (const good of ["AB".repeat(32), "cd".repeat(100), "ef".repeat(256)]) {
    const { node } = conversationsReads(await link.receive(apns(good)));
    assert.equal((await store.findNode(node, clock.now()))?.target?.address, good.toLowerCase());
  }
});
