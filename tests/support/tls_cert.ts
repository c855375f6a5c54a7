/**
 * A throw-away self-signed TLS certificate for tests, made with the system `openssl`.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "./peers.ts";

/**
 * Generates a fresh RSA-2048 key and a self-signed certificate for `localhost` and `127.0.0.1`
 * (valid two days) into a new directory under `os.tmpdir()`.
 *
 * The certificate is marked `CA:FALSE` with `serverAuth` usage: rustls (Deno) rejects a
 * certificate that OpenSSL's default `-x509` marks `CA:TRUE` when it is used as a server's leaf
 * (`CaUsedAsEndEntity`), while Node and Bun accept either. Callers remove `dir` when done (the
 * PEM strings stay usable).
 *
 * @example
 * ```ts
 * import { rm } from "node:fs/promises";
 * import { makeSelfSignedCert } from "./tls_cert.ts";
 * const { cert, key, dir } = await makeSelfSignedCert();
 * await rm(dir, { recursive: true, force: true });
 * console.log(cert.startsWith("-----BEGIN CERTIFICATE-----"), key.length > 0);
 * ```
 *
 * @returns The certificate and key in PEM form and the directory holding `cert.pem`/`key.pem`.
 */
export async function makeSelfSignedCert(): Promise<{ cert: string; key: string; dir: string }> {
  // tempDir() removes the folder when the test process exits, whoever forgets to.
  const dir = await tempDir("rtmp-test-cert-");
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-addext",
          "basicConstraints=critical,CA:FALSE",
          "-addext",
          "keyUsage=critical,digitalSignature,keyEncipherment",
          "-addext",
          "extendedKeyUsage=serverAuth",
          "-days",
          "2",
          "-keyout",
          keyPath,
          "-out",
          certPath,
        ],
        (error, _stdout, stderr) => {
          if (error) reject(new Error(`openssl req failed: ${error.message}\n${stderr}`));
          else resolve();
        },
      );
    });
    const [cert, key] = await Promise.all([
      readFile(certPath, "utf8"),
      readFile(keyPath, "utf8"),
    ]);
    return { cert, key, dir };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
