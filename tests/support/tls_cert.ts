/**
 * Throw-away TLS material for tests, made with the system `openssl`: a test CA and a server
 * certificate it signed, the way a real deployment is set up.
 *
 * Why not one self-signed certificate: a client verifies the server's certificate against the
 * CAs it trusts (`tls.ca`). rustls (Deno) refuses a certificate that is both the trust anchor and
 * the server's leaf when it is marked as a CA, which is what a plain `openssl req -x509` makes
 * (`invalid peer certificate: CaUsedAsEndEntity`); Node and Bun accept it. A leaf signed by a CA
 * works on all three: the server presents the leaf, the client trusts the CA.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "./peers.ts";

/** What {@linkcode makeTestCert} made, as PEM text and as files in `dir`. */
export interface TestCert {
  /** The test CA's certificate (PEM): what a client passes as `tls.ca`. File `ca.pem`. */
  ca: string;
  /** The server's leaf certificate (PEM), signed by the CA. File `cert.pem`. */
  cert: string;
  /** The leaf's private key (PEM, PKCS#8). File `key.pem`. */
  key: string;
  /** Folder holding `ca.pem`, `cert.pem` and `key.pem`; removed when the test process exits. */
  dir: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0]} failed: ${error.message}\n${stderr}`));
      else resolve();
    });
  });
}

/** P-256 keys: quick to make, and every runtime's TLS stack takes them. */
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes a fresh test CA (valid two days) and a server certificate it signed for `localhost` and
 * `127.0.0.1` (SAN), marked `CA:FALSE` with `serverAuth` usage, into a new directory under
 * `os.tmpdir()`. The CA's key is deleted once the leaf is signed.
 *
 * @example
 * ```ts
 * import { makeTestCert } from "./tls_cert.ts";
 * const { ca, cert, key } = await makeTestCert();
 * // server: tls: { cert, key }    client: tls: { ca }
 * console.log(ca !== cert, key.includes("PRIVATE KEY"));
 * ```
 *
 * @returns The CA, the leaf and its key in PEM form, and the directory holding them.
 */
export async function makeTestCert(): Promise<TestCert> {
  // tempDir() removes the folder when the test process exits, whoever forgets to.
  const dir = await tempDir("rtmp-test-cert-");
  try {
    await openssl([
      ...["req", "-x509", ...EC_KEY, "-subj", "/CN=@x-rtmp test CA", "-days", "2"],
      ...["-addext", "basicConstraints=critical,CA:TRUE"],
      ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      ...["-keyout", "ca.key", "-out", "ca.pem"],
    ], dir);
    await openssl(
      [
        "req",
        "-new",
        ...EC_KEY,
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
      ],
      dir,
    );
    await writeFile(
      join(dir, "leaf.ext"),
      [
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "",
      ].join("\n"),
    );
    await openssl([
      ...["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key"],
      ...["-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "2"],
      ...["-extfile", "leaf.ext", "-out", "cert.pem"],
    ], dir);
    await Promise.all(
      ["ca.key", "leaf.csr", "leaf.ext"].map((f) => rm(join(dir, f), { force: true })),
    );
    const [ca, cert, key] = await Promise.all(
      ["ca.pem", "cert.pem", "key.pem"].map((f) => readFile(join(dir, f), "utf8")),
    );
    return { ca, cert, key, dir };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
