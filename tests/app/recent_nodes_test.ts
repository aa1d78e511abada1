import assert from "node:assert/strict";
import { RecentNodes, trackingProvisioner } from "../../app/recent_nodes.ts";

const WINDOW = 60_000;

function clockAt(start: number) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

Deno.test("RecentNodes: unsure for a window after the start, then only set-up nodes are recent", () => {
  const clock = clockAt(1_000_000);
  const recent = new RecentNodes({ clock, windowMs: WINDOW });
  assert.equal(recent.unsure(), true);
  assert.equal(recent.isRecent("any"), true, "just started: every node is recent");
  clock.t += WINDOW;
  assert.equal(recent.unsure(), false);
  recent.add("fresh");
  assert.equal(recent.isRecent("fresh"), true);
  assert.equal(recent.isRecent("other"), false);
  clock.t += WINDOW - 1;
  assert.equal(recent.isRecent("fresh"), true);
  clock.t += 1;
  assert.equal(recent.isRecent("fresh"), false, "a window later it is no longer recent");
});

Deno.test("RecentNodes: over its size within a window, every node counts as recent", () => {
  const clock = clockAt(0);
  const recent = new RecentNodes({ clock, windowMs: WINDOW, maxEntries: 3 });
  clock.t += WINDOW;
  for (const node of ["a", "b", "c"]) recent.add(node);
  assert.equal(recent.unsure(), false);
  recent.add("d"); // drops "a", set up within the window
  assert.equal(recent.unsure(), true);
  assert.equal(recent.isRecent("a"), true);
  assert.equal(recent.isRecent("never-set-up"), true);
  clock.t += WINDOW;
  assert.equal(recent.unsure(), false, "once the dropped entry is out of the window");
  assert.equal(recent.isRecent("never-set-up"), false);
});

Deno.test("RecentNodes: old entries are forgotten, so a steady rate never overflows", () => {
  const clock = clockAt(0);
  const recent = new RecentNodes({ clock, windowMs: WINDOW, maxEntries: 10 });
  clock.t += WINDOW;
  for (let i = 0; i < 1000; i++) {
    recent.add(`n${i}`);
    clock.t += WINDOW / 5; // five a window: well under ten
  }
  assert.equal(recent.unsure(), false);
});

Deno.test("trackingProvisioner: notes added nodes before the setup starts", async () => {
  const clock = clockAt(0);
  const recent = new RecentNodes({ clock, windowMs: WINDOW });
  clock.t += WINDOW;
  const seen: boolean[] = [];
  const provisioner = trackingProvisioner({
    provision(added, removed) {
      seen.push(recent.isRecent("new"), recent.isRecent("gone"));
      assert.deepEqual(removed, ["gone"]);
      return Promise.resolve(new Set(added));
    },
  }, recent);
  assert.deepEqual([...await provisioner.provision(["new"], ["gone"])], ["new"]);
  assert.deepEqual(seen, [true, false]);
});
