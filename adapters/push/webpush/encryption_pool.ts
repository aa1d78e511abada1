/**
 * RFC 8291 encryption on a few Deno Workers, so that the P-256 work of many pushes (most of a
 * push's CPU) runs on several cores beside the thread doing HTTP. Each message still gets a
 * fresh ephemeral key (in the worker). A request goes to the worker with the fewest
 * requests pending; the receiving keys travel as bytes and are imported once per worker.
 *
 * @module
 */

import type { EncryptAnswer, EncryptRequest } from "./encryption_worker.ts";
import { MAX_PLAINTEXT_BYTES, PlaintextTooLargeError, type ReceiverKeys } from "./aes128gcm.ts";

interface Lane {
  readonly worker: Worker;
  pending: number;
  /** A worker that failed takes no more requests (its pending ones were rejected). */
  dead: boolean;
}

interface Waiting {
  readonly lane: Lane;
  resolve(body: Uint8Array<ArrayBuffer>): void;
  reject(error: Error): void;
}

/** A pool of encryption workers; see the module comment. */
export class EncryptionPool {
  readonly #lanes: Lane[];
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  #closed = false;

  readonly #ecdh: EncryptRequest["ecdh"];

  /** Starts `size` (≥ 1) workers, making the P-256 work with `ecdh`'s (default WebCrypto). */
  constructor(size: number, ecdh: EncryptRequest["ecdh"] = "webcrypto") {
    this.#ecdh = ecdh;
    if (!Number.isInteger(size) || size < 1) throw new RangeError("a pool has 1 worker or more");
    this.#lanes = Array.from({ length: size }, () => {
      const worker = new Worker(new URL("./encryption_worker.ts", import.meta.url), {
        type: "module",
      });
      const lane: Lane = { worker, pending: 0, dead: false };
      worker.onmessage = (event: MessageEvent<EncryptAnswer>) => this.#answer(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        lane.dead = true;
        this.#failLane(lane, new Error(`encryption worker failed: ${event.message}`));
      };
      return lane;
    });
  }

  /** Workers in the pool. */
  get size(): number {
    return this.#lanes.length;
  }

  /** Encrypts like `encryptAes128gcm(plaintext, receiver)`, on a worker. */
  encrypt(plaintext: Uint8Array, receiver: ReceiverKeys): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#closed) return Promise.reject(new Error("the encryption pool is closed"));
    if (plaintext.byteLength > MAX_PLAINTEXT_BYTES) {
      return Promise.reject(new PlaintextTooLargeError(plaintext.byteLength));
    }
    let lane: Lane | undefined;
    for (const other of this.#lanes) {
      if (!other.dead && (lane === undefined || other.pending < lane.pending)) lane = other;
    }
    if (lane === undefined) return Promise.reject(new Error("every encryption worker failed"));
    const id = this.#nextId++;
    const chosen = lane;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { lane: chosen, resolve, reject });
      chosen.pending++;
      const request: EncryptRequest = {
        id,
        plaintext: plaintext.slice(),
        p256dh: receiver.publicKeyBytes,
        auth: receiver.authSecret,
        ecdh: this.#ecdh,
      };
      chosen.worker.postMessage(request, [request.plaintext.buffer]);
    });
  }

  /** Stops the workers; encryptions still pending are rejected. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const lane of this.#lanes) {
      lane.worker.terminate();
      this.#failLane(lane, new Error("the encryption pool is closed"));
    }
  }

  #answer(answer: EncryptAnswer): void {
    const waiting = this.#waiting.get(answer.id);
    if (waiting === undefined) return;
    this.#waiting.delete(answer.id);
    waiting.lane.pending--;
    if ("body" in answer) waiting.resolve(answer.body);
    else waiting.reject(new Error(answer.error));
  }

  #failLane(lane: Lane, error: Error): void {
    for (const [id, waiting] of this.#waiting) {
      if (waiting.lane !== lane) continue;
      this.#waiting.delete(id);
      lane.pending--;
      waiting.reject(error);
    }
  }
}
