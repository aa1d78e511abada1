/**
 * Every configured app, built into its {@link AppDelivery}: the WNS app of the `wns`
 * section (named `wns`), when the UWPX client is configured, and each entry of `apps`, by
 * its service. The composition root routes, checks readiness, sums queues and closes
 * through this list only.
 *
 * @module
 */

import { WNS_TARGETS } from "../../adapters/push/wns/wns_push_delivery.ts";
import type { WnsSender } from "../../adapters/push/wns/wns_sender.ts";
import type { WnsMetrics } from "../../domain/ports/metrics.ts";
import type { AppConfig } from "../config/apps.ts";
import type { Config, UwpxConfig } from "../config.ts";
import { wnsTokenCheck } from "../readiness.ts";
import type { AppDelivery, AppWiringDeps } from "./app_delivery.ts";
import { createApnsApp } from "./apns_wiring.ts";
import { createFcmApp } from "./fcm_wiring.ts";
import { serverWns } from "./wns_wiring.ts";
import { createWebPushApp, type WebPushTestOverrides } from "./webpush_wiring.ts";

/** What every app is wired with: WNS also reports its answers as `wnsResponse`. */
export interface PushAppsDeps extends AppWiringDeps {
  readonly metrics: AppWiringDeps["metrics"] & WnsMetrics;
}

/** Replaceable parts, for tests. */
export interface PushAppsOverrides {
  /**
   * A WNS sender to use as it is (a fake in memory): no policy, no token. Only with the
   * `wns` section: without it there is no WNS app to send for.
   */
  readonly wns?: WnsSender;
  /** Web Push apps' DNS and trusted certificates (the fake push service's). */
  readonly webpush?: WebPushTestOverrides;
}

/**
 * The app of one `apps` entry. A new service is one `case` here (and its schema in
 * `config/apps.ts`).
 */
export function createApp(
  name: string,
  config: AppConfig,
  deps: AppWiringDeps,
  overrides: PushAppsOverrides = {},
): Promise<AppDelivery> {
  switch (config.service) {
    case "fcm":
      return createFcmApp(name, config, deps);
    case "apns":
      return createApnsApp(name, config, deps);
    case "webpush":
      return createWebPushApp(name, config, deps, overrides.webpush);
  }
}

/** The WNS app of the `wns` section (or of a test's sender). */
export function createWnsApp(
  config: UwpxConfig["wns"],
  deps: PushAppsDeps,
  sender?: WnsSender,
): AppDelivery {
  const wns = serverWns(config, deps, sender);
  const gate = wns.gate;
  return {
    ...WNS_TARGETS,
    delivery: wns.delivery,
    // "wns", as before there were other apps.
    readiness: wns.tokens ? [wnsTokenCheck(wns.tokens, deps.clock)] : [],
    coalesceMs: config.coalesceMs,
    // The UWPX client sends a new channel by itself: a gone one pauses the device's nodes.
    whenGone: "pause",
    queueDepth: () => gate ? gate.inFlight + gate.queued : 0,
    close: () => wns.close(),
  };
}

/**
 * Every app of `config`, the WNS one first (when there is a `wns` section). When one cannot be
 * built (a bad key file), those already built are closed and the error goes on.
 */
export async function createPushApps(
  config: Config,
  deps: PushAppsDeps,
  overrides: PushAppsOverrides = {},
): Promise<AppDelivery[]> {
  const apps = config.wns ? [createWnsApp(config.wns, deps, overrides.wns)] : [];
  try {
    for (const [name, app] of Object.entries(config.apps)) {
      apps.push(await createApp(name, app, deps, overrides));
    }
  } catch (error) {
    await closePushApps(apps);
    throw error;
  }
  return apps;
}

/** Closes every app; one that fails to close does not keep the others open. */
export async function closePushApps(apps: readonly AppDelivery[]): Promise<void> {
  await Promise.allSettled(apps.map(async (app) => await app.close()));
}
