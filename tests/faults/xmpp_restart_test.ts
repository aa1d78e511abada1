/**
 * The users' XMPP server restarted during traffic: a real Prosody 0.12 with the push server
 * as its XEP-0114 component (SQLite, TLS device port, fake WNS). A load-generating user keeps
 * publish IQs flowing to the component over its own c2s session (as a user's server would
 * over s2s) while Prosody is restarted twice.
 *
 * Every publish the generator sent is accounted for: a result (pushed), a `wait` error
 * (Prosody answers `wait/remote-server-timeout` while the component is not connected), or
 * cut: in flight on the generator's own c2s connection when Prosody stopped, so no one
 * could answer it (bounded by the publishes in flight). None may go unanswered on a
 * connection that stayed up, none may get another error. The component must reconnect by
 * itself and pushes resume (measured), every device registered before the restarts still
 * pushes, and memory stays bounded.
 */

import { testConfigJson } from "../support/test_config.ts";
import assert from "node:assert/strict";
import { client } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { parseConfig } from "../../app/config.ts";
import { requireDevicePort, startPushServer } from "../../app/push_server.ts";
import { sample } from "../support/prometheus_text.ts";
import { serverTestGate, startProsody, withTimeout } from "../support/prosody.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";
import {
  assertMemoryBounded,
  CountingLogger,
  liftClientLimits,
  memory,
  NoAnswer,
  report,
  sleep,
  Tally,
  until,
} from "./fault_kit.ts";

const gate = serverTestGate("prosody");

const PUSH_DOMAIN = "push.localhost";
const DEVICES = 20;
/** Publish IQs the generator keeps in flight. */
const IN_FLIGHT = 4;
const RESTARTS = 2;
/** Traffic before, between and after the restarts. */
const STEADY_MS = 1500;
/** A publish unanswered this long on a connection that stayed up counts as lost. */
const IQ_TIMEOUT_MS = 10_000;
/** The component must be back and pushing within this after Prosody is. */
const RESUME_BOUND_MS = 10_000;

Deno.test({
  name: "XMPP server restart: Prosody restarted twice during publish traffic",
  ...gate,
  async fn() {
    const componentSecret = crypto.randomUUID();
    const dir = await Deno.makeTempDir({ prefix: "push-faults-" });
    const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
    try {
      const prosody = await startProsody({
        componentDomain: PUSH_DOMAIN,
        componentSecret,
        logLevel: "warn",
      });
      cleanups.push(() => prosody.stop());
      await prosody.registerUser("loadgen", "loadgen-pw");
      const wns = await startFakeWns({ record: false });
      cleanups.push(() => wns.close());
      const { certPath, keyPath, cert } = await writeTestCertificate(dir);
      const json = testConfigJson({
        dir,
        certPath,
        keyPath,
        wns,
        // The default WNS timeout, as before this harness shared the configuration.
        wnsExtra: { coalesceMs: 0, requestTimeoutSeconds: 10 },
        xmpp: {
          mode: "component",
          bareJid: PUSH_DOMAIN,
          password: componentSecret,
          host: "127.0.0.1",
          port: prosody.componentPort,
        },
      });
      json.http = { port: 0 };
      liftClientLimits(json);
      const parsed = parseConfig(json);
      if (!parsed.ok) throw new Error(parsed.problems.join("; "));
      const logger = new CountingLogger();
      const server = requireDevicePort(await startPushServer(parsed.config, logger));
      cleanups.push(() => server.close(0));
      await withTimeout(server.link.whenOnline(), 10_000, "the component link");
      const metrics = async () => {
        const response = await fetch(`http://127.0.0.1:${server.ops!.addr.port}/metrics`);
        return await response.text();
      };

      // Devices registered before the restarts.
      const nodes: { node: string; secret: string }[] = [];
      for (let i = 0; i < DEVICES; i++) {
        const device = await DeviceClient.connect({
          hostname: "127.0.0.1",
          port: server.devices.addr.port,
          caCerts: [cert],
        });
        try {
          const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
          const set = await device.request({
            version: 2,
            action: "set_channel_uri",
            device_id: deviceId,
            channel_uri: wns.channelUri(),
          });
          assert.equal(set.status, 1);
          const answer = await device.request({
            version: 2,
            action: "set_push_accounts",
            device_id: deviceId,
            accounts: [{ account_id: crypto.randomUUID() }],
          });
          assert.equal(answer.status, 1);
          nodes.push((answer.accounts as { node: string; secret: string }[])[0]);
        } finally {
          device.close();
        }
      }

      const generator = new LoadGenerator(prosody.c2sPort, "loadgen", "loadgen-pw");
      cleanups.push(() => generator.close());
      await generator.connect();
      const publish = (i: number) => {
        const { node, secret } = nodes[i % nodes.length];
        return generator.send(
          publishIq({ to: PUSH_DOMAIN, node, secret, summary: { "message-count": "1" } }),
        );
      };
      for (let i = 0; i < 4; i++) assert.equal((await publish(i)).attrs.type, "result");
      const memBefore = memory();
      const pushesBefore = wns.counters.pushes;
      const serverAnsweredBefore = publishesAnswered(await metrics());

      // The load: IN_FLIGHT publishers; each waits for the generator to be connected.
      const tally = new Tally();
      const timeline: { sentAt: number; answer: string }[] = [];
      let running = true;
      let sent = 0;
      const worker = async () => {
        while (running) {
          await generator.connected();
          // Not connected after all (dropped meanwhile): nothing is sent, nothing counted.
          if (!running || !generator.online) continue;
          const sentAt = performance.now();
          const answer = await tally.track(() => publish(sent++));
          timeline.push({ sentAt, answer });
          // A user's server does not spin on errors; Prosody answers those at once.
          if (answer !== "result") await sleep(5);
        }
      };
      const workers = Array.from({ length: IN_FLIGHT }, worker);
      const restarts: { stopAt: number; upAt: number; resumedAfterMs: number }[] = [];
      try {
        await sleep(STEADY_MS);
        for (let r = 0; r < RESTARTS; r++) {
          const stopAt = performance.now();
          await prosody.restart();
          const upAt = performance.now();
          // The generator reconnects as a user's server would; the component by itself.
          generator.reconnectSoon();
          await until(
            () => timeline.some((e) => e.sentAt > upAt && e.answer === "result"),
            "pushes resuming after the restart",
            RESUME_BOUND_MS,
          );
          const resumed = Math.min(
            ...timeline.filter((e) => e.sentAt > upAt && e.answer === "result").map((e) =>
              e.sentAt
            ),
          );
          restarts.push({ stopAt, upAt, resumedAfterMs: resumed - upAt });
          await sleep(STEADY_MS);
        }
      } finally {
        running = false;
        generator.wake();
        await Promise.all(workers);
      }

      // Every registration made before the restarts still pushes.
      const after = new Tally();
      for (let i = 0; i < nodes.length; i++) await after.track(() => publish(i));
      const serverAnswered = publishesAnswered(await metrics()) - serverAnsweredBefore;

      const cut = tally.count("cut");
      report(
        `XMPP restart: Prosody restarted ${RESTARTS}x (down ${
          restarts.map((r) => Math.round(r.upAt - r.stopAt)).join(", ")
        } ms) under ${IN_FLIGHT} publish IQs in flight; pushes resumed ${
          restarts.map((r) => Math.round(r.resumedAfterMs)).join(", ")
        } ms after Prosody was back; component reconnects ${
          sample(await metrics(), "uwpx_push_xmpp_reconnects_total")
        }; generator reconnects ${generator.reconnects}; publishes: ${tally.summary()}; the ` +
          `push server answered ${serverAnswered} (including the ${after.sent} after); after: ` +
          `${after.summary()}`,
      );

      assert.equal(tally.count("unanswered"), 0, `unanswered publishes: ${tally.summary()}`);
      for (const [answer] of tally.counts) {
        assert.ok(
          answer === "result" || answer === "cut" || answer.startsWith("wait/"),
          `unexpected answer ${answer}: ${tally.summary()}`,
        );
      }
      assert.equal(tally.pushed + tally.waited + cut, tally.sent);
      // Only what was in flight when Prosody went down can be cut.
      assert.ok(cut <= IN_FLIGHT * RESTARTS, `cut ${cut}: ${tally.summary()}`);
      assert.equal(restarts.length, RESTARTS);
      for (const r of restarts) assert.ok(r.resumedAfterMs < RESUME_BOUND_MS);
      assert.ok(server.link.online, "the component link is up");
      after.assertNothingLost("publishes after the restarts");
      assert.equal(after.pushed, DEVICES, "every registration made before pushes");
      // Every result was a push; a publish the push server answered may have lost its answer
      // in Prosody's shutdown (counted as cut), never the other way round.
      const pushed = wns.counters.pushes - pushesBefore;
      assert.ok(pushed >= tally.pushed + after.pushed, `pushes ${pushed}`);
      assert.ok(pushed <= tally.pushed + after.pushed + cut, `pushes ${pushed}`);
      assert.ok(serverAnswered >= tally.pushed + after.pushed);
      // Measured: rss +0..30 MB, heapUsed +0..30 MB without a forced collection.
      assertMemoryBounded(memBefore, { rssMb: 80, heapMb: 60, heapMbAfterGc: 8 }, "XMPP restart");
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    }
  },
});

/** Publishes the push server answered, whatever the outcome. */
function publishesAnswered(metricsText: string): number {
  const outcomes = ["pushed", "unknown-node", "forbidden", "bad-request", "unavailable"];
  return [...outcomes, "throttled"].reduce(
    (sum, outcome) => sum + (sample(metricsText, "uwpx_push_publishes_total", { outcome }) ?? 0),
    0,
  );
}

/**
 * A user sending publish IQs over its c2s session and matching answers by id. When the
 * connection drops, the IQs in flight on it are rejected as cut; {@link reconnectSoon}
 * logs in again (retrying until it works or {@link close}).
 */
class LoadGenerator {
  reconnects = 0;
  // deno-lint-ignore no-explicit-any
  #xmpp: any = null;
  #online = false;
  #closed = false;
  #reconnecting: Promise<void> | null = null;
  readonly #pending = new Map<
    string,
    {
      resolve(answer: Element): void;
      reject(error: Error): void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  #waiters: (() => void)[] = [];

  constructor(readonly port: number, readonly username: string, readonly password: string) {}

  async connect(): Promise<void> {
    const xmpp = client({
      service: `xmpp://127.0.0.1:${this.port}`,
      domain: "localhost",
      username: this.username,
      password: this.password,
      resource: crypto.randomUUID(),
    });
    xmpp.reconnect.stop();
    xmpp.on("error", () => {});
    xmpp.on("stanza", (stanza: Element) => {
      if (stanza.name !== "iq") return;
      const pending = this.#pending.get(stanza.attrs.id);
      if (!pending || (stanza.attrs.type !== "result" && stanza.attrs.type !== "error")) return;
      this.#pending.delete(stanza.attrs.id);
      clearTimeout(pending.timer);
      pending.resolve(stanza);
    });
    xmpp.on("disconnect", () => {
      if (this.#xmpp !== xmpp) return;
      this.#online = false;
      for (const [id, pending] of this.#pending) {
        clearTimeout(pending.timer);
        pending.reject(new NoAnswer("cut", `IQ ${id}: the connection to the XMPP server closed`));
      }
      this.#pending.clear();
    });
    this.#xmpp = xmpp;
    await withTimeout(xmpp.start(), 10_000, `${this.username} logging in`);
    this.#online = true;
    this.wake();
  }

  get online(): boolean {
    return this.#online;
  }

  /** Resolves once the session is up (or the generator is closed or woken). */
  connected(): Promise<void> {
    if (this.#online || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Lets every {@link connected} waiter go on. */
  wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /** Logs in again in the background, retrying every 100 ms. */
  reconnectSoon(): void {
    this.#reconnecting ??= (async () => {
      while (!this.#closed && !this.#online) {
        await this.#stopClient();
        try {
          await this.connect();
          this.reconnects++;
        } catch {
          await sleep(100);
        }
      }
      this.#reconnecting = null;
    })();
  }

  /** Sends an IQ; resolves with its answer; rejects with {@link NoAnswer}. */
  send(iq: Element): Promise<Element> {
    if (!this.#online) return Promise.reject(new NoAnswer("cut", "not connected"));
    // The session's own address is stamped by Prosody.
    delete iq.attrs.from;
    const id: string = iq.attrs.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new NoAnswer("unanswered", `IQ ${id}: no answer in ${IQ_TIMEOUT_MS} ms`));
      }, IQ_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#xmpp.send(iq).catch((error: Error) => {
        if (!this.#pending.delete(id)) return;
        clearTimeout(timer);
        reject(new NoAnswer("cut", `IQ ${id}: could not be sent: ${error.message}`));
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.wake();
    await this.#reconnecting;
    await this.#stopClient();
  }

  async #stopClient(): Promise<void> {
    const xmpp = this.#xmpp;
    if (!xmpp) return;
    try {
      if (xmpp.status !== "offline") await withTimeout(xmpp.stop(), 2000, "stop");
    } catch {
      // The socket is gone either way.
    }
  }
}
