/**
 * The Push 2.0 relay (`urn:xmpp:push2:0`) on the XMPP link: the handler the component link
 * calls for each `<message>`. A notification goes to the Web Push app the resource of its
 * `to` names (`push.example.org/<app>`), else the default Web Push app, and is relayed by
 * that app's relay (same sender, endpoint rules and delivery bounds as its pushes). Bounded
 * per sending server (the domain of `from`) at `limits.xmpp.publishesPerServer`, a bucket of
 * its own (limit `push2_per_server`): over it, `wait/resource-constraint` and nothing sent.
 * Every notification is counted by app and outcome. Other messages are ignored.
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import { handlePush2Message, isPush2Message } from "../../adapters/xmpp/push2_message.ts";
import { jidDomain } from "../../adapters/xmpp/publish_iq.ts";
import type { Clock } from "../../domain/ports/clock.ts";
import type { Push2Metrics, Push2Outcome } from "../../domain/ports/metrics.ts";
import type { AppDirectory } from "../../domain/ports/registration_commands.ts";
import type { Push2Answer } from "../../domain/push2.ts";
import { WEBPUSH } from "../../domain/webpush_registration.ts";
import type { Config } from "../config.ts";
import type { ReportLimit } from "../limit_reporter.ts";
import { KeyedRateLimiter } from "../rate_limiter.ts";
import type { Push2Relay } from "../use_cases/push2_relay.ts";
import type { AppDelivery } from "./app_delivery.ts";

/** What the relay handler needs. */
export interface Push2WiringDeps {
  /** Every configured app; those with a Push 2.0 relay (Web Push apps) serve it. */
  readonly apps: readonly AppDelivery[];
  /** Which app a message is for (the same directory as the commands'). */
  readonly directory: AppDirectory;
  readonly limits: Config["limits"];
  readonly clock: Clock;
  readonly report: ReportLimit;
  readonly metrics: Push2Metrics;
}

/** The link's message handler; undefined when no Web Push app is configured. */
export function push2MessageHandler(
  deps: Push2WiringDeps,
): ((message: Element) => Promise<Element | null>) | undefined {
  const relays = new Map<string, Push2Relay>();
  for (const app of deps.apps) {
    const relay = (app as { push2?: Push2Relay }).push2;
    if (app.service === WEBPUSH && relay !== undefined) relays.set(app.app, relay);
  }
  if (relays.size === 0) return undefined;
  const { directory, limits, clock, report, metrics } = deps;
  const servers = new KeyedRateLimiter<string>({
    rate: limits.xmpp.publishesPerServer,
    maxKeys: limits.trackedKeys,
    clock,
  });
  return (message) => {
    if (!isPush2Message(message) || message.attrs.type === "error") {
      return Promise.resolve(null);
    }
    const from = typeof message.attrs.from === "string" ? message.attrs.from : "";
    const to = typeof message.attrs.to === "string" ? message.attrs.to : "";
    const slash = to.indexOf("/");
    const name = directory.appFor(WEBPUSH, slash === -1 ? null : to.slice(slash + 1));
    const relay = name === null ? undefined : relays.get(name);
    let counted = false;
    const count = (app: string, outcome: Push2Outcome) => {
      counted = true;
      metrics.push2Notification(app, outcome);
    };
    return handlePush2Message(message, async (notification): Promise<Push2Answer> => {
      if (name === null || relay === undefined) {
        count("", "no-app");
        return { kind: "error", type: "cancel", condition: "item-not-found", text: "no such app" };
      }
      const server = jidDomain(from);
      if (!servers.take(server)) {
        report("push2_per_server", { server });
        count(name, "wait");
        return {
          kind: "error",
          type: "wait",
          condition: "resource-constraint",
          text: "too many notifications from your server",
        };
      }
      const answer = await relay.relay(notification);
      count(name, outcomeOf(answer));
      return answer;
    }).then((answer) => {
      // A notification too malformed to reach the relay (answered bad-request).
      if (!counted) metrics.push2Notification(name ?? "", "refused");
      return answer;
    });
  };
}

function outcomeOf(answer: Push2Answer): Push2Outcome {
  if (answer.kind === "relayed") return "relayed";
  if (answer.type === "wait") return "wait";
  return answer.condition === "item-not-found" ? "gone" : "refused";
}
