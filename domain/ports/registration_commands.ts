/**
 * Registrations by command (XEP-0050, p2's dialect and its kin): the use case the XMPP
 * command door calls, and the directory of apps it asks which app a command is for.
 * `app/use_cases/command_registration.ts` implements the use case; the wiring builds the
 * directory from the configured apps.
 *
 * @module
 */

/** A registration command, checked by the door. */
export interface RegisterRequest {
  /** The push service (`fcm`, `apns`, `webpush`). */
  readonly service: string;
  /** The app, as the directory named it. */
  readonly app: string;
  /** The IQ's `from`: the registering account's full (or bare) JID. */
  readonly from: string;
  /** The device id the client sent (p2: `device-id` or `android-id`). */
  readonly deviceId: string;
  /** The device's address at the service (FCM: the registration token). */
  readonly address: string;
  /**
   * The registration's key and the pushed account id, when the service's dialect has its
   * own; default p2's device hash, SHA-1(bare JID NUL device id).
   */
  readonly key?: string;
}

/** An unregistration command, checked by the door. */
export type UnregisterRequest = Omit<RegisterRequest, "address">;

/** What a command came to. */
export type CommandOutcome =
  /** Registered: the node and secret the user's server is to publish with. */
  | { readonly kind: "registered"; readonly node: string; readonly secret: string }
  | { readonly kind: "unregistered" }
  /** Nothing registered under that key (unregister). */
  | { readonly kind: "not-found" }
  /** Over a registration limit: try later (`wait`). */
  | { readonly kind: "throttled"; readonly reason: string }
  /** Storage could not be reached, or an internal error: try later (`wait`). */
  | { readonly kind: "unavailable"; readonly reason: string };

/** The registration use cases the command door calls. */
export interface RegistrationCommands {
  register(request: RegisterRequest): Promise<CommandOutcome>;
  unregister(request: UnregisterRequest): Promise<CommandOutcome>;
}

/**
 * Which app a command is for: `requested` is the resource of the IQ's `to`
 * (`push.example.org/<app>`), null without one (then the service's default app). Answers
 * the app's name, or null when there is no such app of that service (`item-not-found`).
 */
export interface AppDirectory {
  appFor(service: string, requested: string | null): string | null;
}

/** A directory from a list of apps: `default` marks each service's default app. */
export function appDirectory(
  apps: Iterable<{ readonly name: string; readonly service: string; readonly default?: boolean }>,
): AppDirectory {
  const byName = new Map<string, string>();
  const defaults = new Map<string, string>();
  const counts = new Map<string, number>();
  const only = new Map<string, string>();
  for (const app of apps) {
    byName.set(app.name, app.service);
    if (app.default) defaults.set(app.service, app.name);
    counts.set(app.service, (counts.get(app.service) ?? 0) + 1);
    only.set(app.service, app.name);
  }
  return {
    appFor(service, requested) {
      if (requested !== null) return byName.get(requested) === service ? requested : null;
      // A service's single app is its default (contract §1).
      return defaults.get(service) ?? (counts.get(service) === 1 ? only.get(service)! : null);
    },
  };
}
