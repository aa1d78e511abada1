/**
 * Firebase projects for tests: one fake FCM per app (token endpoint and send endpoint on
 * loopback, JWTs checked with jose), each with its own throwaway service account written to
 * a key file, and the `apps` section of a configuration that names those files. Sends go
 * through a TCP proxy per project, so a test can make FCM unreachable and bring it back.
 *
 * @module
 */

import { type FakeFcm, startFakeFcm } from "../../adapters/push/fcm/fake_fcm_server.ts";
import { startTcpProxy, type TcpProxy } from "./tcp_proxy.ts";

/** The running projects, by app name. */
export interface FcmProjects {
  /** Each app's fake FCM (project id `<app>-push`). */
  readonly fakes: Readonly<Record<string, FakeFcm>>;
  /** Each app's proxy in front of its send endpoint (the token endpoint is reached directly). */
  readonly proxies: Readonly<Record<string, TcpProxy>>;
  /** The `apps` section: `{service: "fcm", serviceAccountFile, baseUrl, ...settings}` each. */
  readonly apps: Record<string, Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Starts one project per entry of `apps` (app name -> more settings of its `apps` entry,
 * e.g. `default`, `ttlSeconds`).
 */
export async function startFcmProjects(
  apps: Record<string, Record<string, unknown>>,
): Promise<FcmProjects> {
  const dir = await Deno.makeTempDir({ prefix: "fcm-projects-" });
  const fakes: Record<string, FakeFcm> = {};
  const proxies: Record<string, TcpProxy> = {};
  const section: Record<string, Record<string, unknown>> = {};
  const close = async () => {
    await Promise.allSettled(Object.values(proxies).map((proxy) => proxy.close()));
    await Promise.allSettled(Object.values(fakes).map((fake) => fake.close()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (const [name, settings] of Object.entries(apps)) {
      const fake = await startFakeFcm({ projectId: `${name}-push` });
      fakes[name] = fake;
      const proxy = startTcpProxy(Number(new URL(fake.url).port));
      proxies[name] = proxy;
      const serviceAccountFile = `${dir}/${name}-firebase-adminsdk.json`;
      await Deno.writeTextFile(serviceAccountFile, JSON.stringify(fake.serviceAccount));
      section[name] = {
        service: "fcm",
        serviceAccountFile,
        baseUrl: `http://127.0.0.1:${proxy.port}`,
        ...settings,
      };
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { fakes, proxies, apps: section, close };
}
