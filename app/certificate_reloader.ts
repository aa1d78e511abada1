/**
 * Reloads the device port's TLS certificate without a restart: when the certificate or key
 * file changes (polled: modification time, size and inode, so a renewal that swaps a
 * symlink counts too), or on demand (SIGHUP). New connections get the new certificate;
 * open ones keep theirs. A certificate that cannot be used (unreadable, malformed, a key of
 * another certificate while a renewal is half written) is reported and the old one stays;
 * it is tried again once the files change again.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import type { Logger } from "../domain/ports/logging.ts";
import type { TlsMetrics } from "../domain/ports/metrics.ts";

/** Options of {@link CertificateReloader.start}. */
export interface CertificateReloaderOptions {
  readonly certPath: string;
  readonly keyPath: string;
  /** How often to look at the files; 0: never (reload on demand only). */
  readonly intervalMs: number;
  /** Puts a certificate chain and key (PEM) in use; throws if they are not usable. */
  apply(cert: string, key: string): void;
  readonly logger: Logger;
  readonly metrics: TlsMetrics;
}

/** Watches the certificate files; see the module doc. */
export class CertificateReloader {
  readonly #options: CertificateReloaderOptions;
  /** The files' stamp when last loaded, and when a load last failed. */
  #loaded: string;
  #failed: string | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(options: CertificateReloaderOptions, stamp: string) {
    this.#options = options;
    this.#loaded = stamp;
  }

  /**
   * Starts watching. `currentCert` is the certificate already in use (for the expiry
   * metric); the files as they are now count as loaded.
   */
  static async start(
    options: CertificateReloaderOptions,
    currentCert: string,
  ): Promise<CertificateReloader> {
    const reloader = new CertificateReloader(options, await stampOf(options));
    reloader.#reportExpiry(currentCert);
    if (options.intervalMs > 0) {
      reloader.#timer = setInterval(() => reloader.#poll(), options.intervalMs);
    }
    return reloader;
  }

  /** Loads the files now, changed or not. Resolves whether the new certificate is in use. */
  reload(): Promise<boolean> {
    return this.#serialized(() => this.#load(null));
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  #poll(): void {
    this.#serialized(async () => {
      let stamp: string;
      try {
        stamp = await stampOf(this.#options);
      } catch {
        return false; // Mid-renewal, a file may be missing for an instant: look again later.
      }
      if (stamp === this.#loaded || stamp === this.#failed) return false;
      return await this.#load(stamp);
    });
  }

  /** Runs loads one at a time. */
  #serialized(work: () => Promise<boolean>): Promise<boolean> {
    const next = this.#running.then(() => (this.#closed ? false : work()));
    this.#running = next.catch(() => {});
    return next;
  }

  async #load(knownStamp: string | null): Promise<boolean> {
    const { certPath, keyPath, apply, logger, metrics } = this.#options;
    let stamp = knownStamp;
    try {
      stamp ??= await stampOf(this.#options);
      const [cert, key] = await Promise.all([
        Deno.readTextFile(certPath),
        Deno.readTextFile(keyPath),
      ]);
      apply(cert, key);
      this.#loaded = stamp;
      this.#failed = null;
      metrics.tlsReload("ok");
      const notAfter = this.#reportExpiry(cert);
      logger.info("TLS certificate reloaded", { notAfter });
      return true;
    } catch (error) {
      this.#failed = stamp;
      metrics.tlsReload("failed");
      // Deno's messages name the problem ("KeyMismatch", "No certificates found"), never the key.
      logger.error("TLS certificate not reloaded; the previous one stays in use", {
        reason: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  }

  /** Reports the leaf certificate's expiry; returns it (ISO), or null if unreadable. */
  #reportExpiry(cert: string): string | null {
    try {
      const notAfter = new Date(new X509Certificate(cert).validTo);
      if (Number.isNaN(notAfter.getTime())) return null;
      this.#options.metrics.tlsCertificateExpiry(notAfter.getTime());
      return notAfter.toISOString();
    } catch {
      return null;
    }
  }
}

/** What changes when either file is replaced or rewritten. */
async function stampOf(paths: { certPath: string; keyPath: string }): Promise<string> {
  const [cert, key] = await Promise.all([Deno.stat(paths.certPath), Deno.stat(paths.keyPath)]);
  const one = (info: Deno.FileInfo) => `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
  return `${one(cert)}|${one(key)}`;
}
