/**
 * The door every publish passes before the publish use case: refused with `wait` while the
 * server shuts down, checked against the publish rates, tracked while in progress (so a
 * shutdown can answer it), and counted.
 *
 * @module
 */

import type { PublishMetrics } from "../domain/ports/metrics.ts";
import type { PublishHandler } from "../domain/ports/xmpp_link.ts";
import type { PublishOutcome, PublishRequest } from "../domain/publish.ts";
import { InFlight } from "./in_flight.ts";
import type { PublishLimits } from "./publish_limits.ts";

/** What the door needs. */
export interface PublishAdmissionDeps {
  /** The publish use case. */
  readonly handle: PublishHandler;
  readonly limits: Pick<PublishLimits, "check">;
  readonly metrics: Pick<PublishMetrics, "publish">;
}

/** Admits publishes to the use case; {@link PublishAdmission.onPublish} is the XMPP side's handler. */
export class PublishAdmission {
  readonly #deps: PublishAdmissionDeps;
  /** Publishes in progress, so that a shutdown can answer them. */
  readonly #inFlight = new InFlight();
  #draining = false;

  constructor(deps: PublishAdmissionDeps) {
    this.#deps = deps;
  }

  /** The handler the XMPP link calls for each publish. */
  readonly onPublish: PublishHandler = async (request: PublishRequest) => {
    const outcome: PublishOutcome = this.#draining
      ? { kind: "unavailable", reason: "push server shutting down" }
      : this.#deps.limits.check(request) ??
        await this.#inFlight.track(this.#deps.handle(request));
    this.#deps.metrics.publish(outcome.kind);
    return outcome;
  };

  /** Publishes in progress. */
  get inProgress(): number {
    return this.#inFlight.size;
  }

  /** From now on every publish is answered `wait` (the server is shutting down). */
  drain(): void {
    this.#draining = true;
  }

  /** Resolves true once no publish is in progress, false if `timeoutMs` passed first. */
  idle(timeoutMs: number): Promise<boolean> {
    return this.#inFlight.idle(timeoutMs);
  }
}
