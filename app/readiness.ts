/**
 * Readiness: can this instance do its job right now? Storage reachable, XMPP link up, each
 * app's access token obtainable (WNS's, when the UWPX client is configured). Served on
 * `/readyz` by the operations HTTP server; a failing check names itself and its reason
 * (log-safe: error messages of our adapters never carry secrets, and {@link errorText} keeps
 * them to one short line).
 *
 * @module
 */

import { withTimeout } from "../lib/timeout.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";

/** One named check: resolves when fine, rejects (the reason) when not. */
export interface ReadinessCheck {
  readonly name: string;
  run(): Promise<void>;
}

/** One check's result. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** Every check's result; ready when all passed. */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: readonly CheckResult[];
}

/** A check that has not answered this soon has failed. */
export const CHECK_TIMEOUT_MS = 2000;

/** Runs the checks, all at once, each with a timeout. */
export class Readiness {
  readonly #checks: readonly ReadinessCheck[];
  readonly #timeoutMs: number;
  #shuttingDown = false;

  constructor(checks: readonly ReadinessCheck[], timeoutMs = CHECK_TIMEOUT_MS) {
    this.#checks = checks;
    this.#timeoutMs = timeoutMs;
  }

  /** From now on the instance is not ready: it is draining before it stops. */
  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  /** Runs every check. */
  async run(): Promise<ReadinessReport> {
    const checks: CheckResult[] = await Promise.all(this.#checks.map(async (check) => {
      try {
        await withTimeout(
          check.run(),
          this.#timeoutMs,
          () => new Error(`no answer within ${this.#timeoutMs} ms`),
        );
        return { name: check.name, ok: true };
      } catch (error) {
        return { name: check.name, ok: false, detail: errorText(error) };
      }
    }));
    if (this.#shuttingDown) {
      checks.unshift({ name: "server", ok: false, detail: "shutting down" });
    }
    return { ready: checks.every((check) => check.ok), checks };
  }
}

/** The store answers its `ping`. */
export function storageCheck(store: RegistrationStore): ReadinessCheck {
  return { name: "storage", run: () => store.ping() };
}

/** The XMPP link is up. */
export function xmppLinkCheck(link: { readonly online: boolean }): ReadinessCheck {
  return {
    name: "xmpp",
    run() {
      return link.online
        ? Promise.resolve()
        : Promise.reject(new Error("the link to the XMPP server is down"));
    },
  };
}

/**
 * A WNS access token can be had. The token source answers from its cache while the token
 * is valid, so this is free most of the time; a failure is remembered for `retryAfterMs`,
 * so that a prober polling every second does not hammer the token endpoint.
 */
export function wnsTokenCheck(
  tokens: { get(): Promise<unknown> },
  clock: Clock,
  retryAfterMs = 30_000,
): ReadinessCheck {
  return tokenCheck("wns", tokens, clock, retryAfterMs);
}

/**
 * An access token of a push service's app can be had (`name`: e.g. `fcm:<app> token`); as
 * {@link wnsTokenCheck}, a failure is remembered for `retryAfterMs`.
 */
export function tokenCheck(
  name: string,
  tokens: { get(): Promise<unknown> },
  clock: Clock,
  retryAfterMs = 30_000,
): ReadinessCheck {
  let failure: { error: unknown; until: number } | null = null;
  return {
    name,
    async run() {
      if (failure !== null && clock.now() < failure.until) throw failure.error;
      try {
        await tokens.get();
        failure = null;
      } catch (error) {
        failure = { error, until: clock.now() + retryAfterMs };
        throw error;
      }
    },
  };
}

/** An error as one short line. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split(/\r?\n/, 1)[0].trim() || "failed";
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
