/**
 * The `apps` section: every app besides the WNS one, keyed by name, each with its push
 * service and its own credentials (files named here). One schema per service
 * (`<service>_app.ts`); this module holds their union and the checks across apps: names,
 * the reserved `wns` (the `wns` section is that app), one default app per service, an fpush
 * `pushModule` listed by one APNs app only.
 *
 * @module
 */

import { z } from "zod";
import { ApnsAppSchema, pushModuleOwners } from "./apns_app.ts";
import { FcmAppSchema } from "./fcm_app.ts";
import { WebPushAppSchema } from "./webpush_app.ts";

/** An app's name: what a registration's target carries and a client names its app by. */
export const APP_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The WNS app's name: the `wns` section. */
export const RESERVED_APP_NAME = "wns";

/**
 * The schemas of the services an app may use. Adding a service is one line here (and one
 * `case` in `app/wiring/push_apps.ts`).
 */
const APP_SCHEMAS = [FcmAppSchema, ApnsAppSchema, WebPushAppSchema] as const;

const SERVICES = APP_SCHEMAS.map((schema) => schema.shape.service.value);

/** One app, by its `service`. */
export const AppSchema = z.discriminatedUnion("service", APP_SCHEMAS, {
  error: `service must be one of: ${SERVICES.join(", ")}`,
});

/** A validated app of any service, defaults applied. */
export type AppConfig = z.infer<typeof AppSchema>;

/** The push services `apps` entries may name. */
export type AppService = AppConfig["service"];

/** The `apps` section: apps by name, absent = none. */
export const AppsSchema = z.record(z.string(), AppSchema).superRefine((apps, context) => {
  const defaults = new Map<string, string[]>();
  for (const [name, app] of Object.entries(apps as Record<string, unknown>)) {
    if (name === RESERVED_APP_NAME) {
      context.addIssue({
        code: "custom",
        path: [name],
        message: `"${RESERVED_APP_NAME}" is reserved: the wns section is that app`,
      });
    } else if (!APP_NAME_PATTERN.test(name)) {
      context.addIssue({
        code: "custom",
        path: [name],
        message: "an app name is 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
      });
    }
    // Read loosely: this check also runs when the entries have problems of their own.
    const { service, default: isDefault } = (app ?? {}) as { service?: unknown; default?: unknown };
    if (isDefault === true && typeof service === "string") {
      defaults.set(service, [...(defaults.get(service) ?? []), name]);
    }
  }
  for (const { app, module, other } of pushModuleOwners(apnsPushModuleLists(apps)).duplicates) {
    context.addIssue({
      code: "custom",
      path: [app, "pushModules"],
      message: `${JSON.stringify(module)} is listed by apps.${other} too`,
    });
  }
  for (const [service, names] of defaults) {
    if (names.length < 2) continue;
    for (const name of names) {
      context.addIssue({
        code: "custom",
        path: [name, "default"],
        message: `only one ${service} app may be the default (${names.join(", ")} are)`,
      });
    }
  }
}, { when: (payload) => typeof payload.value === "object" && payload.value !== null }).transform(
  (apps) => {
    // A service's only app is its default.
    const counts = new Map<string, number>();
    for (const app of Object.values(apps)) {
      counts.set(app.service, (counts.get(app.service) ?? 0) + 1);
    }
    return Object.fromEntries(
      Object.entries(apps).map((
        [name, app],
      ) => [name, counts.get(app.service) === 1 ? { ...app, default: true } : app]),
    ) as Record<string, AppConfig>;
  },
).default({});

/** The APNs entries' pushModules, read loosely (entries may have problems of their own). */
function apnsPushModuleLists(apps: unknown): [string, { pushModules: string[] }][] {
  return Object.entries(apps as Record<string, unknown>).flatMap(([name, app]) => {
    const { service, pushModules } = (app ?? {}) as { service?: unknown; pushModules?: unknown };
    const names = Array.isArray(pushModules)
      ? pushModules.filter((module) => typeof module === "string")
      : [];
    return service === "apns" ? [[name, { pushModules: names }]] : [];
  });
}

/** A validated `apps` section. */
export type AppsConfig = z.infer<typeof AppsSchema>;

/** The app of `service` a registration naming no app goes to, or null when there is none. */
export function defaultApp(apps: AppsConfig, service: AppService): string | null {
  for (const [name, app] of Object.entries(apps)) {
    if (app.service === service && app.default) return name;
  }
  return null;
}

/** The app named `name` when it exists and uses `service`, else null. */
export function appOf<S extends AppService>(
  apps: AppsConfig,
  service: S,
  name: string,
): Extract<AppConfig, { service: S }> | null {
  const app = Object.hasOwn(apps, name) ? apps[name] : undefined;
  return app?.service === service ? app as Extract<AppConfig, { service: S }> : null;
}
