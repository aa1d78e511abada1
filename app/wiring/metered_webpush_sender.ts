/**
 * A Web Push sender that reports each request's answer and duration as
 * `pushServiceResponse(service, app, status, seconds)`. Pushes the endpoint policy refused
 * sent nothing: they are not counted.
 *
 * @module
 */

import type { PushServiceMetrics } from "../../domain/ports/metrics.ts";
import type { PushOutcome } from "../../adapters/push/webpush/push_outcome.ts";
import type { WebPushMessage } from "../../adapters/push/webpush/web_push_sender.ts";
import type { WebPushMessageSender } from "../../adapters/push/webpush/webpush_push_delivery.ts";

/** {@link WebPushMessageSender} with metrics; see the module comment. */
export class MeteredWebPushSender implements WebPushMessageSender {
  constructor(
    private readonly inner: WebPushMessageSender,
    private readonly service: string,
    private readonly app: string,
    private readonly metrics: PushServiceMetrics,
  ) {}

  async send(message: WebPushMessage): Promise<PushOutcome> {
    const started = performance.now();
    const outcome = await this.inner.send(message);
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
