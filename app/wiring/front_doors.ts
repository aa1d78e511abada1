/**
 * What listens: the device port (with its certificate reloader) and, when `http` is
 * configured, the metrics and probes port. Opened together: if one cannot open, those
 * already open are closed again before the error goes on.
 *
 * @module
 */

import type { DeviceServer } from "../../adapters/device/tls_device_server.ts";
import { OpsHttpServer } from "../../adapters/http/ops_http_server.ts";
import type { PrometheusMetrics } from "../../adapters/metrics/prometheus_metrics.ts";
import { CertificateReloader } from "../certificate_reloader.ts";
import type { Config } from "../config.ts";
import type { Readiness } from "../readiness.ts";
import { type DevicePortDeps, listenForDevices } from "./device_wiring.ts";

/** What the front doors need besides the configuration. */
export interface FrontDoorDeps extends Omit<DevicePortDeps, "metrics"> {
  readonly metrics: PrometheusMetrics;
  readonly readiness: Readiness;
}

/** The open front doors. */
export interface FrontDoors {
  readonly devices: DeviceServer;
  readonly certificates: CertificateReloader;
  /** The metrics and probes port, when `http` is configured. */
  readonly ops: OpsHttpServer | null;
}

/** Opens the device port, the certificate reloader and the ops port. */
export async function openFrontDoors(config: Config, deps: FrontDoorDeps): Promise<FrontDoors> {
  const { metrics, readiness, logger } = deps;
  let devices: DeviceServer | undefined;
  let certificates: CertificateReloader | undefined;
  try {
    const port = devices = await listenForDevices(config, deps);
    metrics.observeDeviceConnections(() => port.connectionCount);
    certificates = await CertificateReloader.start({
      certPath: config.tcp.tls.serverCertPath,
      keyPath: config.tcp.tls.serverKeyPath,
      intervalMs: config.tcp.tls.reloadCheckSeconds * 1000,
      apply: (newCert, newKey) => port.reloadCertificate(newCert, newKey),
      logger,
      metrics,
    }, deps.cert);
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
