/**
 * Plumbing the fake push services (WNS, FCM, Web Push) share: an answer delay that ends
 * when the fake closes, a close that may be called twice, and per-key queues of scripted
 * answers. Test and demo code only; no production path imports it.
 *
 * @module
 */

/** Waits `ms`, or less when `signal` aborts (the fake is closing); never rejects. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * A close for a fake's HTTP server: aborts what `closing` delays, then shuts the server down;
 * idempotent (tests close explicitly and through `await using`).
 */
export function closeOnce(
  server: { shutdown(): Promise<void> },
  closing: AbortController,
): () => Promise<void> {
  let closed: Promise<void> | null = null;
  return () => {
    if (closed === null) {
      closing.abort();
      closed = server.shutdown();
    }
    return closed;
  };
}

/** Appends `value` to the queue kept under `key`. */
export function enqueue<T>(queues: Map<string, T[]>, key: string, value: T): void {
  const queue = queues.get(key) ?? [];
  queue.push(value);
  queues.set(key, queue);
}
