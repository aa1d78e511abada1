/**
 * fpush's stateless dialect for the configured APNs apps (fpush.md §1–2, §7): a publish
 * whose node is an APNs device token and whose `pushModule` publish-option is listed by an
 * app is pushed with that app, with no registration and no storage lookup; a publish
 * without `pushModule` to a node storage does not know goes to the default APNs app, as
 * fpush's `is_default_module` (Monal always names its module). Other publish-options (a
 * `secret`, ...) are accepted, unlike fpush.
 *
 * Since anyone who knows a token can make us push to it, each app protects its tokens, as
 * fpush does but answered so users' servers keep working registrations:
 * - a blocklist of tokens APNs called dead (410 Unregistered, BadDeviceToken,
 *   DeviceTokenNotForTopic), with expiry (1 day, 5 days when reported again): refused with
 *   `cancel/item-not-found` without any request to Apple;
 * - a per-token rate limit (token bucket) on what is sent, after the publish use case merged
 *   bursts: over it, `wait/resource-constraint`.
 * Both are counted (`uwpx_push_limit_hits_total{limit="stateless_dead_token"|
 * "stateless_token_rate"}`, a log line per limit and interval) and the blocklist's size is a
 * gauge (`uwpx_push_blocked_tokens{service,app}`). Tokens are logged by their start only.
 *
 * @module
 */

import { DeadTokenBlocklist } from "../adapters/push/apns/dead_token_blocklist.ts";
import { TokenRateLimiter } from "../adapters/push/apns/token_rate_limiter.ts";
import { interpretStatelessPublish } from "../domain/fpush_publish.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { LogFields } from "../domain/ports/logging.ts";
import type { StatelessMetrics } from "../domain/ports/metrics.ts";
import type { DeliveryOutcome } from "../domain/ports/push_delivery.ts";
import type { StatelessResolution, StatelessTargets } from "../domain/ports/stateless_targets.ts";
import type { PublishRequest } from "../domain/publish.ts";
import { type ApnsAppConfig, apnsPushModules } from "./config/apns_app.ts";
import { appOf, type AppsConfig } from "./config/apps.ts";
import type { ReportLimit } from "./limit_reporter.ts";
import { shortId } from "./log_ids.ts";
import { APNS_SERVICE } from "./wiring/apns_wiring.ts";

const HOUR_MS = 3600_000;
/** An APNs device token has at least 64 hex digits (`apnsDeviceTokenSchema`). */
const MIN_TOKEN_LENGTH = 64;

/** What {@link FpushTargets} needs besides the apps. */
export interface FpushTargetsDeps {
  readonly clock: Clock;
  /** Counts and logs each refusal (`LimitReporter.hit`). */
  readonly reportLimit: ReportLimit;
  readonly metrics: StatelessMetrics;
}

/** One app's protections. */
class TokenGuard {
  readonly #app: string;
  readonly #blocklist: DeadTokenBlocklist;
  readonly #limiter: TokenRateLimiter;
  readonly #reportLimit: ReportLimit;

  constructor(app: string, config: ApnsAppConfig, deps: FpushTargetsDeps) {
    this.#app = app;
    const { deadTokens, tokenRateLimit } = config;
    this.#blocklist = new DeadTokenBlocklist({
      dead: {
        initialMs: deadTokens.blockHours * HOUR_MS,
        extendedMs: deadTokens.extendedBlockHours * HOUR_MS,
      },
      extendOnLookupMs: deadTokens.extendOnLookupMinutes * 60_000,
      maxEntries: deadTokens.maxEntries,
      clock: deps.clock,
    });
    this.#limiter = new TokenRateLimiter({
      burst: tokenRateLimit.burst,
      perSecond: 1 / tokenRateLimit.refillSeconds,
      maxTokens: tokenRateLimit.maxTokens,
      clock: deps.clock,
    });
    this.#reportLimit = deps.reportLimit;
    deps.metrics.observeBlockedTokens(APNS_SERVICE, app, () => {
      this.#blocklist.sweep();
      return this.#blocklist.counters.size;
    });
  }

  /**
   * The resolution for pushing to `token`: a known-dead token is refused at once; the rate
   * is taken when a push is really sent (the publish use case merges bursts before sending,
   * so what coalescing merges costs no rate), and the blocklist is checked again then.
   */
  resolve(token: string): StatelessResolution {
    const fields = { service: APNS_SERVICE, app: this.#app, node: shortId(token) };
    if (this.#blocked(token, fields)) return { kind: "refuse", outcome: { kind: "unknown-node" } };
    return {
      kind: "push",
      target: { service: APNS_SERVICE, app: this.#app, address: token },
      send: async (deliver: () => Promise<DeliveryOutcome>): Promise<DeliveryOutcome> => {
        // A merged push may follow the one that found the token dead: no request for it.
        if (this.#blocked(token, fields)) return { kind: "target-gone", status: null };
        const rate = this.#limiter.take(token);
        if (!rate.allowed) {
          this.#reportLimit("stateless_token_rate", { ...fields, retryAfterMs: rate.retryAfterMs });
          return {
            kind: "throttled",
            status: null,
            detail: "too many pushes to this device",
            retryAfterMs: rate.retryAfterMs,
          };
        }
        const outcome = await deliver();
        if (outcome.kind === "target-gone") this.#blocklist.block(token, "dead");
        return outcome;
      },
    };
  }

  /** Whether `token` is blocked as dead; a refusal is counted and logged. */
  #blocked(token: string, fields: LogFields): boolean {
    if (!this.#blocklist.check(token).blocked) return false;
    this.#reportLimit("stateless_dead_token", fields);
    return true;
  }
}

/** The stateless dialect over the configured APNs apps. */
export class FpushTargets implements StatelessTargets {
  /** pushModule -> the guard of the app it selects. */
  readonly #modules = new Map<string, TokenGuard>();
  /** The app for publishes without pushModule, or null. */
  readonly #default: TokenGuard | null;

  /**
   * @param apps every configured APNs app (name, config); those without `pushModules` do
   * not take stateless publishes.
   * @throws Error when two apps list one pushModule.
   */
  constructor(apps: Iterable<readonly [string, ApnsAppConfig]>, deps: FpushTargetsDeps) {
    const all = [...apps];
    const serving = all.filter(([, app]) => app.pushModules.length > 0);
    const guards = new Map(serving.map(([name, app]) => [name, new TokenGuard(name, app, deps)]));
    for (const [module, name] of apnsPushModules(serving)) {
      this.#modules.set(module, guards.get(name)!);
    }
    // fpush's is_default_module: the default APNs app (with a single app, that one).
    const fallback = all.length === 1 ? all[0] : all.find(([, app]) => app.default);
    this.#default = fallback === undefined ? null : guards.get(fallback[0]) ?? null;
  }

  named(request: PublishRequest): StatelessResolution | null {
    const options = request.publishOptions;
    // Cheap first: every WNS publish carries options too, and its node is no token.
    if (options === undefined || options === null || this.#modules.size === 0) return null;
    if (request.node.length < MIN_TOKEN_LENGTH) return null;
    const read = interpretStatelessPublish(request.node, options);
    if (!read.ok) {
      // A token with a malformed pushModule or too many options will never work.
      return read.kind === "bad-request"
        ? { kind: "refuse", outcome: { kind: "bad-request", reason: read.reason } }
        : null;
    }
    const { pushModule, token } = read.target;
    const guard = pushModule === null ? undefined : this.#modules.get(pushModule);
    return guard === undefined ? null : guard.resolve(token);
  }

  unnamed(request: PublishRequest): StatelessResolution | null {
    if (this.#default === null) return null;
    const read = interpretStatelessPublish(request.node, request.publishOptions ?? null);
    if (!read.ok || read.target.pushModule !== null) return null;
    return this.#default.resolve(read.target.token);
  }
}

/**
 * The stateless dialect over the APNs apps of `apps`, counted in `deps.metrics`; undefined
 * when no APNs app is configured (every publish then needs a stored node).
 */
export function fpushTargetsFor(
  apps: AppsConfig,
  deps: FpushTargetsDeps,
): FpushTargets | undefined {
  const apns = Object.keys(apps).flatMap((name) => {
    const app = appOf(apps, APNS_SERVICE, name);
    return app === null ? [] : [[name, app] as const];
  });
  return apns.length === 0 ? undefined : new FpushTargets(apns, deps);
}
