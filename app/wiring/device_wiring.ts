/**
 * The device port from the configuration: the UWPX TLS protocol's listener with its
 * connection and request limits, in front of the device use cases.
 *
 * @module
 */

import { DeviceServer } from "../../adapters/device/tls_device_server.ts";
import type { Clock } from "../../domain/ports/clock.ts";
import type { DeviceUseCases } from "../../domain/ports/device_use_cases.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { DeviceMetrics } from "../../domain/ports/metrics.ts";
import type { UwpxConfig } from "../config.ts";
import { DeviceRequestLimits } from "../device_limits.ts";
import type { ReportLimit } from "../limit_reporter.ts";

/** What the device port needs besides the configuration. */
export interface DevicePortDeps {
  readonly useCases: DeviceUseCases;
  /** The PEM certificate chain and key, read at start. */
  readonly cert: string;
  readonly key: string;
  readonly logger: Logger;
  readonly metrics: Pick<DeviceMetrics, "deviceRequest">;
  readonly clock: Clock;
  readonly reportLimit: ReportLimit;
}

/** Opens the device port `config.tcp` describes, with the `limits.device` limits. */
export function listenForDevices(
  config: UwpxConfig,
  deps: DevicePortDeps,
): Promise<DeviceServer> {
  const { tcp, limits } = config;
  const device = limits.device;
  return DeviceServer.listen({
    hostname: tcp.host,
    port: tcp.port,
    cert: deps.cert,
    key: deps.key,
    useCases: deps.useCases,
    logger: deps.logger,
    maxConnections: tcp.maxConnections,
    maxConnectionsPerAddress: device.connectionsPerAddress,
    maxConnectionsPerPrefix: device.connectionsPerPrefix,
    frameTimeoutMs: device.frameTimeoutSeconds * 1000,
    evictIdleAfterMs: device.evictIdleAfterSeconds * 1000,
    maxAccounts: tcp.maxAccountsPerDevice,
    maxFrameBytes: device.maxFrameBytes,
    idleTimeoutMs: tcp.idleTimeoutSeconds * 1000,
    handshakeTimeoutMs: device.handshakeTimeoutSeconds * 1000,
    metrics: deps.metrics,
    requestLimiter: new DeviceRequestLimits({
      perConnection: device.requestsPerConnection,
      perDevice: device.requestsPerDevice,
      maxDevices: limits.trackedKeys,
      closeAfterRefusals: device.closeAfterRefusals,
      clock: deps.clock,
      report: deps.reportLimit,
    }),
    reportLimit: deps.reportLimit,
  });
}
