/**
 * The component link's liveness ping (issue 13): it goes to the component's own domain and
 * the XMPP server routes it back. Against real Prosody and ejabberd: an idle link that gets
 * its pings back stays up, and is not reconnected.
 */

import assert from "node:assert/strict";
import { ComponentLink } from "../../adapters/xmpp/component_link.ts";
import { startEjabberd } from "../support/ejabberd.ts";
import { serverTestGate, startProsody } from "../support/prosody.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const DOMAIN = "push.localhost";

for (
  const [name, binary, start] of [
    ["prosody", "prosody", startProsody],
    ["ejabberd", "ejabberdctl", startEjabberd],
  ] as const
) {
  Deno.test({
    name: `${name} component: an idle link's pings come back through the server`,
    ...serverTestGate(binary),
    async fn() {
      const secret = crypto.randomUUID();
      const server = await start({ componentDomain: DOMAIN, componentSecret: secret });
      const logger = new RecordingLogger();
      let reconnects = 0;
      const link = new ComponentLink({
        service: `xmpp://127.0.0.1:${server.componentPort}`,
        domain: DOMAIN,
        password: secret,
        logger,
        onPublish: () => Promise.resolve({ kind: "pushed" }),
        pingIntervalMs: 200,
        pingTimeoutMs: 2000,
        metrics: {
          publish() {},
          xmppLinkState() {},
          xmppReconnected: () => reconnects++,
          xmppConnectFailed() {},
        },
      });
      try {
        link.start();
        await link.whenOnline();
        // About 15 pings, each answered well within the timeout.
        for (let i = 0; i < 30; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          assert.ok(link.online, `link down after ${i * 100} ms:\n${logger.text()}`);
        }
        assert.equal(reconnects, 0, logger.text());
        assert.ok(!logger.text().includes("does not answer pings"), logger.text());
      } finally {
        await link.stop(100);
        await server.stop();
      }
    },
  });
}
