/**
 * A Web Push sender that reports each request's answer and duration as
 * `pushServiceResponse(service, app, status, seconds)`. Pushes the endpoint policy refused
 * sent nothing: they are not counted.
 *
 * @module
 */

import type { PushServiceMetrics } from "../../domain/ports/metrics.ts";
import type { PushOutcome } from "../../adapters/push/webpush/push_outcome.ts";
import type {
  EncryptedWebPushMessage,
  WebPushMessage,
} from "../../adapters/push/webpush/web_push_sender.ts";
import type { WebPushMessageSender } from "../../adapters/push/webpush/webpush_push_delivery.ts";
import type { EncryptedWebPushSender } from "../../adapters/push/webpush/push2_web_push_relay.ts";

/** Our messages and relayed ones (Push 2.0), with metrics; see the module comment. */
export class MeteredWebPushSender implements WebPushMessageSender, EncryptedWebPushSender {
  constructor(
    private readonly inner: WebPushMessageSender & EncryptedWebPushSender,
    private readonly service: string,
    private readonly app: string,
    private readonly metrics: PushServiceMetrics,
  ) {}

  send(message: WebPushMessage): Promise<PushOutcome> {
    return this.#metered(this.inner.send(message));
  }

  sendEncrypted(message: EncryptedWebPushMessage): Promise<PushOutcome> {
    return this.#metered(this.inner.sendEncrypted(message));
  }

  async #metered(sending: Promise<PushOutcome>): Promise<PushOutcome> {
    const started = performance.now();
    const outcome = await sending;
    if (outcome.kind !== "refused") {
      this.metrics.pushServiceResponse(
        this.service,
        this.app,
        outcome.status,
        (performance.now() - started) / 1000,
      );
    }
    return outcome;
  }
}
