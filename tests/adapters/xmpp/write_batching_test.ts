import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { batchWrites } from "../../../adapters/xmpp/write_batching.ts";
import { scaledMs } from "../../support/timing.ts";

/** A reader in a Worker counting what arrives and in how many reads. */
async function countingServer() {
  const worker = new Worker(
    new URL("../../support/counting_reader_worker.ts", import.meta.url),
    { type: "module" },
  );
  const ask = <T>(message: string) =>
    new Promise<T>((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.postMessage(message);
    });
  const { port } = await ask<{ port: number }>("listen");
  const socket: Socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once("connect", resolve));
  // Shaped like an @xmpp/connection entity: a socket and a write that returns a promise.
  const entity = {
    socket: socket as Socket | null,
    write(text: string): Promise<void> {
      return new Promise<void>((resolve, reject) =>
        entity.socket!.write(text, (error) => error ? reject(error) : resolve())
      );
    },
  };
  return {
    entity,
    /** What arrived so far, once `expected` characters did (or after a second). */
    async received(expected: number): Promise<{ reads: number; text: string }> {
      let report = await ask<{ reads: number; text: string }>("peek");
      for (let i = 0; i < 100 && report.text.length < expected; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        report = await ask("peek");
      }
      return report;
    },
    close() {
      socket.destroy();
      worker.terminate();
    },
  };
}

/** Writes `count` answers, one per event-loop turn about 40 µs apart, as answers trickle in. */
async function trickle(write: (text: string) => Promise<void>, count: number): Promise<void> {
  const written: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    written.push(write(answer(i)));
    const until = performance.now() + 0.04;
    while (performance.now() < until) { /* the next answer is not back yet */ }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(written);
}

function answer(i: number): string {
  return `<iq type='result' id='${i}'/>`;
}

function answers(from: number, to: number): string {
  return Array.from({ length: to - from }, (_, k) => answer(from + k)).join("");
}

Deno.test("batchWrites: answers written in quick succession leave in one write", async () => {
  const expected = answers(0, 20);
  // Without batching most answers are a segment, and a read, of their own; printed for
  // comparison, not asserted: a loaded machine may deschedule the reader until several
  // segments wait, which says nothing about batching. The corking itself is asserted exactly
  // by the test with a recording socket below.
  const plain = await countingServer();
  try {
    await trickle(plain.entity.write, 20);
    const got = await plain.received(expected.length);
    assert.equal(got.text, expected);
    console.log(`reads without batching: ${got.reads}`);
  } finally {
    plain.close();
  }
  const batched = await countingServer();
  try {
    batchWrites(batched.entity);
    await trickle(batched.entity.write, 20);
    const got = await batched.received(expected.length);
    assert.equal(got.text, expected, "every answer, in order");
    assert.ok(got.reads <= 3, `${got.reads} reads with batching`);
  } finally {
    batched.close();
  }
});

Deno.test("batchWrites: a lone answer is not held back", async () => {
  const server = await countingServer();
  try {
    batchWrites(server.entity);
    const started = performance.now();
    await server.entity.write(answer(0));
    const got = await server.received(answer(0).length);
    const waited = performance.now() - started;
    assert.equal(got.text, answer(0));
    // Held back, it would wait for a later write that never comes: far past any bound.
    assert.ok(waited < scaledMs(100), `arrived after ${waited.toFixed(1)} ms`);
  } finally {
    server.close();
  }
});

Deno.test("batchWrites: after a reconnect the new socket is batched too", async () => {
  const first = await countingServer();
  const second = await countingServer();
  try {
    const entity = first.entity;
    batchWrites(entity);
    await trickle(entity.write, 5);
    // The library replaces its socket when it reconnects.
    entity.socket = second.entity.socket;
    await trickle((text) => entity.write(text), 20);
    assert.equal((await first.received(answers(0, 5).length)).text, answers(0, 5));
    const got = await second.received(answers(0, 20).length);
    assert.equal(got.text, answers(0, 20));
    assert.ok(got.reads <= 3, `${got.reads} reads on the new socket`);
  } finally {
    first.close();
    second.close();
  }
});

/** A socket that records corking and the writes made while corked. */
function recordingEntity() {
  const events: string[] = [];
  let corked = 0;
  const socket = {
    cork: () => {
      corked++;
      events.push("cork");
    },
    uncork: () => {
      corked--;
      events.push("uncork");
    },
  };
  const entity = {
    socket: socket as typeof socket | null,
    write(text: string): Promise<void> {
      events.push(corked > 0 ? `write ${text} (corked)` : `write ${text}`);
      return Promise.resolve();
    },
  };
  /** Resolves once the socket was uncorked as often as corked (the window ended). */
  const uncorked = async () => {
    const deadline = performance.now() + 10_000;
    while (corked > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(corked, 0, "the socket stayed corked");
  };
  return { entity, events, uncorked };
}

Deno.test("batchWrites: writes of one turn go out under one cork, released after the window", async () => {
  const { entity, events, uncorked } = recordingEntity();
  batchWrites(entity);
  // Answers written back to back (as when several WNS answers come back together).
  await Promise.all(["a", "b", "c"].map((text) => entity.write(text)));
  assert.deepEqual(events, ["cork", "write a (corked)", "write b (corked)", "write c (corked)"]);
  await uncorked();
  assert.equal(events.at(-1), "uncork");
  // The next write opens a new window: it is corked again, not sent on its own.
  await entity.write("d");
  assert.deepEqual(events.slice(-2), ["cork", "write d (corked)"]);
  await uncorked();
  assert.deepEqual(events.filter((e) => e === "cork").length, 2);
});
