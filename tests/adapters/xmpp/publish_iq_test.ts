import assert from "node:assert/strict";
import { answerPublish, jidDomain } from "../../../adapters/xmpp/publish_iq.ts";
import { SampledLog } from "../../../app/sampled_log.ts";
import { NS_PUBSUB } from "../../../adapters/xmpp/publish_parser.ts";
import { publishIq } from "../../../adapters/xmpp/publish_builder.ts";
import type { PublishOutcome, PublishRequest } from "../../../domain/publish.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const pubsubOf = (from: string) =>
  publishIq({ node: "node1", secret: "s", from, to: "push.example.org" }).getChild(
    "pubsub",
    NS_PUBSUB,
  )!;

Deno.test("jidDomain: the domain of a bare, full or domain JID, lowercased", () => {
  assert.equal(jidDomain("Capulet.Example"), "capulet.example");
  assert.equal(jidDomain("juliet@capulet.example"), "capulet.example");
  assert.equal(jidDomain("juliet@capulet.example/balcony@night"), "capulet.example");
  assert.equal(jidDomain("capulet.example/res"), "capulet.example");
});

Deno.test("answerPublish: the request carries the sending server's domain", async () => {
  const seen: PublishRequest[] = [];
  const handler = (request: PublishRequest): Promise<PublishOutcome> => {
    seen.push(request);
    return Promise.resolve({ kind: "throttled", reason: "too many publishes: slow down" });
  };
  const logger = new RecordingLogger();
  const answer = await answerPublish(
    pubsubOf("Capulet.Example"),
    "Capulet.Example",
    handler,
    logger,
  );
  await answerPublish(pubsubOf("x"), undefined, handler, logger);
  assert.deepEqual(seen.map((r) => r.from), ["capulet.example", undefined]);
  // Over a limit: wait/resource-constraint, so the user's server keeps the registration.
  assert.equal(answer.attrs.type, "wait");
  assert.ok(answer.getChild("resource-constraint"));
});

Deno.test("answerPublish: a flood of malformed publishes goes to the sampled log, not a line each", async () => {
  const logger = new RecordingLogger();
  const sampled = new SampledLog("malformed publish", { logger, clock: { now: () => 0 } });
  const malformed = publishIq({ node: "", secret: "s", to: "push.example.org" }).getChild(
    "pubsub",
    NS_PUBSUB,
  )!;
  const handler = () => Promise.reject(new Error("a malformed publish reached the use case"));
  for (let i = 0; i < 1000; i++) {
    const answer = await answerPublish(malformed, "evil.example", handler, logger, sampled);
    assert.equal(answer.attrs.type, "modify");
  }
  assert.equal(logger.lines.length, 1, logger.text());
  sampled.flush();
  assert.equal(logger.lines[1].fields?.notLogged, 999);
});
