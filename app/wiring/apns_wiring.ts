/**
 * Builds one APNs app (apps_contract.md §2): its provider token from the `.p8` key, one
 * HTTP/2 connection kept open and multiplexed (our lean HTTP/2 client, which lets the
 * sender hold the connection, follow APNs's stream limit and time out each stream; see the
 * sender's module), the payload and headers of the app, and the shared delivery
 * policy in front (in-flight bound, bounded queue with a longest wait, per-token bound and
 * backoff after 429, retries with backoff for 5xx, network errors and timeouts). Bursts are
 * merged above, by the publish use case's coalescer, in the app's `coalesceMs` window: there
 * the per-token rate limit of the stateless dialect counts only what is sent.
 *
 * Each request is metered as `pushServiceResponse("apns", <app>, status, seconds)`; the
 * readiness check `apns:<app>` says whether the key signs and APNs can be reached.
 *
 * @module
 */

import type { ApnsHeaders } from "../../domain/payloads/apns_headers.ts";
import { ApnsPushDelivery, type ApnsSend } from "../../adapters/push/apns/apns_push_delivery.ts";
import { Http2ApnsSender } from "../../adapters/push/apns/http2_apns_sender.ts";
import { ApnsProviderToken } from "../../adapters/push/apns/provider_token.ts";
import type { PushOutcome } from "../../adapters/push/apns/push_outcome.ts";
import type { PushServiceMetrics } from "../../domain/ports/metrics.ts";
import { type ApnsAppConfig, apnsPayloadSettings } from "../config/apns_app.ts";
import { PolicyDelivery } from "../delivery/delivery_policy.ts";
import { boundedPolicy, DEFAULT_RETRY_DELAYS } from "../delivery/bounded_policy.ts";
import type { ReadinessCheck } from "../readiness.ts";
import type { AppDelivery, AppWiringDeps } from "./app_delivery.ts";
import { withLogFields } from "../log_fields.ts";

/** The push service's name in targets, routes, metrics and logs. */
export const APNS_SERVICE = "apns";

/** Settings the tests shorten; production uses the defaults. */
export interface ApnsAppTuning {
  /** Pause before the first retry (doubles per retry, up to `maxRetryDelayMs`). Default 500. */
  readonly initialRetryDelayMs?: number;
  /** Default 8000. */
  readonly maxRetryDelayMs?: number;
}

/**
 * Wires the APNs app `name`.
 *
 * @throws Error naming `apps.<name>.<field>` when the key or CA file cannot be read or is
 * not what it should be.
 */
export async function createApnsApp(
  name: string,
  config: ApnsAppConfig,
  deps: AppWiringDeps,
  tuning: ApnsAppTuning = {},
): Promise<AppDelivery> {
  const { clock, metrics } = deps;
  // Every line of this app (the delivery policy's too) says which service and app.
  const logger = withLogFields(deps.logger, { service: APNS_SERVICE, app: name });
  const p8 = await readConfigFile(name, "keyFile", config.keyFile);
  let providerToken: ApnsProviderToken;
  try {
    providerToken = await ApnsProviderToken.create({
      keyId: config.keyId,
      teamId: config.teamId,
      privateKeyPem: p8,
      clock,
    });
  } catch (error) {
    throw new Error(`apps.${name}.keyFile: ${(error as Error).message}`);
  }
  const caCerts = config.caFile === undefined
    ? undefined
    : [await readConfigFile(name, "caFile", config.caFile)];
  const sender = new Http2ApnsSender({
    environment: config.environment,
    providerToken,
    ...(config.url === undefined ? {} : { baseUrl: config.url }),
    ...(caCerts === undefined ? {} : { caCerts }),
    maxConcurrentStreams: config.maxInFlight,
    // The gate in front queues; the sender's own queue only absorbs APNs's lower limit.
    maxQueued: config.maxQueued + config.maxInFlight,
    requestTimeoutMs: config.requestTimeoutSeconds * 1000,
    // Why Apple closed a connection (Shutdown, IdleTimeout, ...): pushes move to a new one.
    onGoaway: (code, reason) => logger.info("APNs closed the connection", { code, reason }),
  });
  const reachability = new Reachability();
  const metered = new MeteredApnsSender(sender, name, metrics, reachability);
  const attempt = new ApnsPushDelivery(metered, {
    payload: apnsPayloadSettings(config),
    topic: config.topic,
    alertPriority: config.priority,
    expirationSeconds: config.expirationSeconds,
    collapseId: config.collapseId,
  }, clock);
  // One connection to one host: the bound in all is its bound.
  const { policy, gate } = boundedPolicy(
    { ...config, maxInFlightPerTarget: config.maxInFlightPerToken },
    { clock, logger },
    {
      initialDelayMs: tuning.initialRetryDelayMs ?? DEFAULT_RETRY_DELAYS.initialDelayMs,
      maxDelayMs: tuning.maxRetryDelayMs ?? DEFAULT_RETRY_DELAYS.maxDelayMs,
    },
  );
  const delivery = new PolicyDelivery(attempt, policy);
  logger.info("apns app ready", {
    environment: config.environment,
    origin: sender.origin,
  });
  return {
    service: APNS_SERVICE,
    app: name,
    delivery,
    readiness: [apnsCheck(name, providerToken, reachability)],
    coalesceMs: config.coalesceMs,
    showsMessageBody: config.payload.includeMessageBody,
    queueDepth: () => gate.inFlight + gate.queued,
    close: () => sender.close(),
  };
}

/** Reads a file the app's configuration names, or throws naming the field. */
async function readConfigFile(app: string, field: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : "cannot be read";
    throw new Error(`apps.${app}.${field}: ${path}: ${reason}`);
  }
}

/** Whether APNs answered lately: the last request's fate, connection-wise. */
class Reachability {
  /** Why the last request got no answer, or null when it got one (or none was made). */
  lastFailure: string | null = null;
}

/** Reports each request's status and duration, and whether APNs answered. */
class MeteredApnsSender implements ApnsSend {
  constructor(
    readonly inner: ApnsSend,
    readonly app: string,
    readonly metrics: PushServiceMetrics,
    readonly reachability: Reachability,
  ) {}

  async send(token: string, payload: string, headers: ApnsHeaders): Promise<PushOutcome> {
    const started = performance.now();
    const outcome = await this.inner.send(token, payload, headers);
    // A token refused before sending (not hex) made no request.
    if (outcome.kind === "token-gone" && outcome.status === null) return outcome;
    this.metrics.pushServiceResponse(
      APNS_SERVICE,
      this.app,
      outcome.status,
      (performance.now() - started) / 1000,
    );
    this.reachability.lastFailure = outcome.status === null && outcome.kind === "failed"
      ? outcome.reason
      : null;
    return outcome;
  }
}

/** `apns:<app>`: the key signs a provider token, and the last request was answered. */
function apnsCheck(
  app: string,
  token: ApnsProviderToken,
  reachability: Reachability,
): ReadinessCheck {
  return {
    name: `${APNS_SERVICE}:${app}`,
    async run() {
      await token.current();
      const failure = reachability.lastFailure;
      if (failure !== null) throw new Error(`APNs did not answer: ${failure}`);
    },
  };
}
