/**
 * What listens: the device port (with its certificate reloader) when the UWPX client is
 * configured, and, when `http` is configured, the metrics and probes port. Opened together:
 * if one cannot open, those already open are closed again before the error goes on.
 *
 * @module
 */

import type { DeviceServer } from "../../adapters/device/tls_device_server.ts";
import { OpsHttpServer } from "../../adapters/http/ops_http_server.ts";
import type { PrometheusMetrics } from "../../adapters/metrics/prometheus_metrics.ts";
import { CertificateReloader } from "../certificate_reloader.ts";
import type { Config, UwpxConfig } from "../config.ts";
import type { Readiness } from "../readiness.ts";
import { type DevicePortDeps, listenForDevices } from "./device_wiring.ts";

/** The device port to open: the UWPX client's configuration, use cases and certificate. */
export interface DevicePortSetup extends Pick<DevicePortDeps, "useCases" | "cert" | "key"> {
  readonly config: UwpxConfig;
}

/** What the front doors need besides the configuration. */
export interface FrontDoorDeps
  extends Omit<DevicePortDeps, "metrics" | "useCases" | "cert" | "key"> {
  /** The device port, or null for none (no UWPX client: no `tcp` section). */
  readonly devicePort: DevicePortSetup | null;
  readonly metrics: PrometheusMetrics;
  readonly readiness: Readiness;
}

/** The open front doors. */
export interface FrontDoors {
  /** The device port and its certificate reloader; null without the UWPX client. */
  readonly devices: DeviceServer | null;
  readonly certificates: CertificateReloader | null;
  /** The metrics and probes port, when `http` is configured. */
  readonly ops: OpsHttpServer | null;
}

/** Opens the device port and its certificate reloader (when set up), and the ops port. */
export async function openFrontDoors(config: Config, deps: FrontDoorDeps): Promise<FrontDoors> {
  const { metrics, readiness, logger, devicePort } = deps;
  let devices: DeviceServer | null = null;
  let certificates: CertificateReloader | null = null;
  try {
    if (devicePort !== null) {
      const { tls } = devicePort.config.tcp;
      const port = devices = await listenForDevices(devicePort.config, { ...deps, ...devicePort });
      metrics.observeDeviceConnections(() => port.connectionCount);
      certificates = await CertificateReloader.start({
        certPath: tls.serverCertPath,
        keyPath: tls.serverKeyPath,
        intervalMs: tls.reloadCheckSeconds * 1000,
        apply: (newCert, newKey) => port.reloadCertificate(newCert, newKey),
        logger,
        metrics,
      }, devicePort.cert);
    }
    const ops = config.http
      ? OpsHttpServer.start({
        hostname: config.http.host,
        port: config.http.port,
        logger,
        endpoints: {
          metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
          readiness: () => readiness.run(),
        },
      })
      : null;
    return { devices, certificates, ops };
  } catch (error) {
    await certificates?.close();
    await devices?.close();
    throw error;
  }
}
