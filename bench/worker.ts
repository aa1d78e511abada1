/**
 * Runs a job in a Worker (its own thread and event loop) and waits for its one answer.
 *
 * @module
 */

/** A module worker that answers each message with one message. */
export class JobWorker<Job, Report> {
  readonly #worker: Worker;

  constructor(module: URL) {
    this.#worker = new Worker(module.href, { type: "module" });
  }

  /** Sends a job; resolves with the worker's answer, rejects on a worker error. */
  run(job: Job): Promise<Report> {
    return new Promise((resolve, reject) => {
      this.#worker.onmessage = (event: MessageEvent<Report>) => resolve(event.data);
      this.#worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        reject(new Error(`worker failed: ${event.message}`));
      };
      this.#worker.postMessage(job);
    });
  }

  terminate(): void {
    this.#worker.terminate();
  }
}
