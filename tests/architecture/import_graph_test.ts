import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type ImportEdge,
  readImportGraph,
  specifiersOf,
  violations,
} from "../support/import_graph.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("the production code keeps the hexagon's dependency rules", async () => {
  const edges = await readImportGraph(ROOT, ["domain", "app", "adapters", "lib"]);
  // The graph was really read: the wiring imports adapters, adapters import the ports.
  assert.ok(edges.some((e) => e.from.startsWith("app/") && e.to.startsWith("adapters/")));
  assert.ok(edges.some((e) => e.from.startsWith("adapters/") && e.to.startsWith("domain/ports/")));
  assert.deepEqual(
    violations(edges).map((v) => `${v.edge.from} -> ${v.edge.to}: ${v.rule}`),
    [],
  );
});

Deno.test("every port lives in domain/ports/", async () => {
  const edges = await readImportGraph(ROOT, ["domain", "app", "adapters", "lib"]);
  const gone = ["domain/ports.ts", "app/metrics.ts"];
  assert.deepEqual(edges.filter((e) => gone.includes(e.to)), []);
});

Deno.test("an adapter importing app/ and a domain module reaching out are both caught", () => {
  const edges: ImportEdge[] = [
    { from: "adapters/xmpp/client_link.ts", to: "app/metrics.ts" },
    { from: "domain/publish.ts", to: "adapters/xmpp/publish_iq.ts" },
    { from: "domain/publish.ts", to: "node:fs" },
    { from: "domain/publish.ts", to: "../outside.ts" },
    { from: "lib/timeout.ts", to: "domain/ports/clock.ts" },
    { from: "app/use_cases/push_service.ts", to: "adapters/push/wns/wns_sender.ts" },
    // Allowed: the wiring imports adapters, the domain its own modules and zod.
    { from: "app/wiring.ts", to: "adapters/xmpp/client_link.ts" },
    { from: "domain/publish.ts", to: "domain/ports/storage.ts" },
    { from: "domain/fpush_publish.ts", to: "zod" },
    { from: "adapters/xmpp/client_link.ts", to: "domain/ports/metrics.ts" },
  ];
  assert.deepEqual(violations(edges).map((v) => `${v.edge.from} -> ${v.edge.to}`), [
    "adapters/xmpp/client_link.ts -> app/metrics.ts",
    "domain/publish.ts -> adapters/xmpp/publish_iq.ts",
    "domain/publish.ts -> node:fs",
    "domain/publish.ts -> ../outside.ts",
    "lib/timeout.ts -> domain/ports/clock.ts",
    "app/use_cases/push_service.ts -> adapters/push/wns/wns_sender.ts",
  ]);
});

Deno.test("imports are read from every form, and not from comments", () => {
  const source = [
    `import type { A } from "../a.ts";`,
    `import {`,
    `  B,`,
    `} from "./b.ts";`,
    `export { C } from "./c.ts";`,
    `import "./side_effect.ts";`,
    `const d = await import("./d.ts");`,
    `/** e.g. import { X } from "./not_an_import.ts" */`,
    `// import { Y } from "./nor_this.ts";`,
  ].join("\n");
  assert.deepEqual(specifiersOf(source), [
    "../a.ts",
    "./b.ts",
    "./c.ts",
    "./side_effect.ts",
    "./d.ts",
  ]);
});
