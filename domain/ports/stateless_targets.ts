/**
 * Publishes that need no registration (fpush's stateless dialect, fpush.md §1): the node
 * IS the device's push token and a publish-option (`pushModule`) names the app. The publish
 * use case asks this port before and after its storage lookup, and stays service-neutral:
 * which services and apps answer such publishes, and how they protect themselves (per-token
 * rate limit, a blocklist of dead tokens), is the implementation's business.
 *
 * @module
 */

import type { DeliveryOutcome } from "./push_delivery.ts";
import type { PublishOutcome, PublishRequest } from "../publish.ts";
import type { PushTarget } from "../push_target.ts";

/** How a stateless publish is to be handled. */
export type StatelessResolution =
  /** Refused before any push: a known-dead token, a token over its rate, a bad option. */
  | { readonly kind: "refuse"; readonly outcome: PublishOutcome }
  | {
    readonly kind: "push";
    /** Where to push: the app's service, the app, the token as the address. */
    readonly target: PushTarget;
    /**
     * Sends with `deliver` and learns from the outcome (a dead token is blocked); may refuse
     * without calling `deliver` (the token's rate spent: `throttled`; found dead meanwhile:
     * `target-gone`). The caller merges bursts first, so only what is sent is counted.
     */
    send(deliver: () => Promise<DeliveryOutcome>): Promise<DeliveryOutcome>;
  };

/** Resolves stateless publishes to push targets, without storage. */
export interface StatelessTargets {
  /**
   * A publish that names a configured app (its `pushModule`): handled without any storage
   * lookup. null: the publish names none; the stored node decides.
   */
  named(request: PublishRequest): StatelessResolution | null;
  /**
   * A publish whose node storage does not know and that names no app: the default app's,
   * when there is one for such publishes and the node is a token. null: none (the publish
   * is answered as for an unknown node).
   */
  unnamed(request: PublishRequest): StatelessResolution | null;
}
