/**
 * Builds one FCM app from its `apps` entry: the service-account key file, the access token
 * source (cached in storage under `FCM:<app>`, shared by instances), the HTTP v1 sender on
 * kept-alive HTTP/1.1 connections, and the shared delivery policy in front (in-flight
 * bounds in all and per registration token, a bounded queue with a longest wait,
 * per-token backoff with Retry-After, bounded retries), metered per attempt.
 *
 * @module
 */

import { FCM_SERVICE, FcmPushDelivery } from "../../adapters/push/fcm/fcm_push_delivery.ts";
import { FcmSender } from "../../adapters/push/fcm/fcm_sender.ts";
import { FcmTokenSource } from "../../adapters/push/fcm/fcm_token_source.ts";
import { http1Transport } from "../../adapters/push/fcm/http_transport.ts";
import { Http1Client } from "../../adapters/push/wns/http1_client.ts";
import {
  readServiceAccountFile,
  type ServiceAccount,
} from "../../adapters/push/fcm/service_account.ts";
import { StoredFcmTokenCache } from "../../adapters/push/fcm/stored_fcm_token_cache.ts";
import type { FcmAppConfig } from "../config/fcm_app.ts";
import { PolicyDelivery } from "../delivery/delivery_policy.ts";
import { boundedPolicy } from "../delivery/bounded_policy.ts";
import { withLogFields } from "../log_fields.ts";
import { MeteredPushDelivery } from "../metered.ts";
import { tokenCheck } from "../readiness.ts";
import type { AppDelivery, AppWiringDeps } from "./app_delivery.ts";

/** The readiness check's name for an FCM app. */
export function fcmTokenCheckName(app: string): string {
  return `${FCM_SERVICE}:${app} token`;
}

/**
 * Wires the FCM app `name`.
 *
 * @throws {Error} naming `apps.<name>.serviceAccountFile` when the key file cannot be read or
 * is not a service-account key (the message never quotes the file).
 */
export async function createFcmApp(
  name: string,
  config: FcmAppConfig,
  deps: AppWiringDeps,
): Promise<AppDelivery> {
  let account: ServiceAccount;
  try {
    account = await readServiceAccountFile(config.serviceAccountFile);
  } catch (error) {
    throw new Error(`apps.${name}.serviceAccountFile: ${(error as Error).message}`);
  }
  const { store, clock, metrics } = deps;
  const logger = withLogFields(deps.logger, { service: FCM_SERVICE, app: name });
  const requestTimeoutMs = config.requestTimeoutSeconds * 1000;
  // WNS's HTTP/1.1 client, not node:http: a third of the CPU per push (BENCHMARKS.md). One
  // host: the global bound is also the connections kept alive to it.
  const client = new Http1Client({ maxIdlePerOrigin: config.maxInFlight });
  const transport = { send: http1Transport(client), close: () => client.close() };
  const tokens = new FcmTokenSource({
    account,
    cache: new StoredFcmTokenCache(store, name, account.client_email),
    transport: transport.send,
    clock,
    logger,
    requestTimeoutMs,
  });
  const sender = new FcmSender({
    projectId: config.projectId ?? account.project_id,
    tokens,
    transport: transport.send,
    logger,
    baseUrl: config.baseUrl,
    requestTimeoutMs,
    priority: config.priority,
    ttlSeconds: config.ttlSeconds,
    restrictedPackageName: config.restrictedPackageName,
    now: () => clock.now(),
  });
  // One host (FCM's): the bound in all is its bound.
  const { policy, gate } = boundedPolicy(config, { clock, logger });
  const wakeups = new FcmPushDelivery(sender, {
    collapse: config.collapse,
    ttlSeconds: config.ttlSeconds,
    now: () => clock.now(),
  });
  // Metered under the policy: each attempt's status and latency, retries included.
  const metered = new MeteredPushDelivery(wakeups, metrics, FCM_SERVICE, name);
  return {
    service: FCM_SERVICE,
    app: name,
    delivery: new PolicyDelivery(metered, policy),
    readiness: [tokenCheck(fcmTokenCheckName(name), tokens, clock)],
    coalesceMs: config.coalesceMs,
    queueDepth: () => gate.inFlight + gate.queued,
    close: () => transport.close(),
  };
}
