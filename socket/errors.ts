/**
 * Translation of runtime socket failures into {@linkcode RtmpError}, shared by the Deno, Bun and
 * Node adapters so that the three report the same code for the same failure.
 *
 * Node and Bun name failures by `code` (`ECONNRESET`, `ERR_TLS_CERT_ALTNAME_INVALID`, OpenSSL's
 * `DEPTH_ZERO_SELF_SIGNED_CERT`…); Deno by error class name (`ConnectionReset`, `InvalidData`…)
 * and, for its `node:` compatibility layer, by `code` as well. Both are looked at.
 *
 * @module
 */

import { RtmpError, type RtmpErrorCode } from "../errors.ts";

/** Codes by errno-style `code` (Node, Bun, Deno's node compat and Deno's own errors). */
const BY_CODE: Readonly<Record<string, RtmpErrorCode>> = {
  ECONNREFUSED: "CONNECTION_REFUSED",
  ECONNRESET: "CONNECTION_RESET",
  EPIPE: "CONNECTION_RESET",
  ECONNABORTED: "CONNECTION_RESET",
  EADDRINUSE: "ADDRESS_IN_USE",
  ETIMEDOUT: "TIMEOUT",
  ABORT_ERR: "ABORTED",
  ERR_SOCKET_CONNECTION_TIMEOUT: "TIMEOUT",
  // Node's stream layer reports a write to a socket it already tore down this way.
  ERR_STREAM_DESTROYED: "CONNECTION_CLOSED",
  ERR_STREAM_WRITE_AFTER_END: "CONNECTION_CLOSED",
  ERR_SOCKET_CLOSED: "CONNECTION_CLOSED",
  // OpenSSL X.509 verification results as Node and Bun expose them.
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS",
  UNABLE_TO_GET_ISSUER_CERT: "TLS",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "TLS",
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: "TLS",
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: "TLS",
  INVALID_CA: "TLS",
  INVALID_PURPOSE: "TLS",
  PATH_LENGTH_EXCEEDED: "TLS",
  HOSTNAME_MISMATCH: "TLS",
};

/** Codes by Deno error class name (`Deno.errors.*`). */
const BY_NAME: Readonly<Record<string, RtmpErrorCode>> = {
  ConnectionRefused: "CONNECTION_REFUSED",
  ConnectionReset: "CONNECTION_RESET",
  ConnectionAborted: "CONNECTION_RESET",
  BrokenPipe: "CONNECTION_RESET",
  AddrInUse: "ADDRESS_IN_USE",
  TimedOut: "TIMEOUT",
  AbortError: "ABORTED",
  TimeoutError: "TIMEOUT",
  NotConnected: "CONNECTION_CLOSED",
  BadResource: "CONNECTION_CLOSED",
  Interrupted: "CONNECTION_CLOSED",
};

/** What the code means, for the message. */
const EXPLAIN: Readonly<Record<RtmpErrorCode, string>> = {
  MALFORMED: "malformed data",
  UNSUPPORTED: "unsupported",
  LIMIT_EXCEEDED: "limit exceeded",
  HANDSHAKE_FAILED: "handshake failed",
  INVALID_URL: "invalid URL",
  INVALID_ARGUMENT: "invalid argument",
  PROTOCOL: "protocol error",
  REJECTED: "rejected",
  TIMEOUT: "timed out",
  ABORTED: "aborted",
  CONNECTION_REFUSED: "connection refused (nothing listens there)",
  CONNECTION_RESET: "connection reset by peer",
  CONNECTION_CLOSED: "connection already closed",
  TLS: "TLS negotiation or certificate verification failed",
  ADDRESS_IN_USE: "address already in use",
  NETWORK: "network error",
  IO: "I/O error",
  CLOSED: "closed",
};

function field(error: unknown, key: "code" | "name" | "message"): string {
  if (typeof error !== "object" || error === null) return "";
  const value = (error as Record<string, unknown>)[key];
  return typeof value === "string" ? value : "";
}

/**
 * Picks the {@linkcode RtmpErrorCode} for a runtime socket error.
 *
 * `InvalidData` (Deno) and messages about certificates only mean TLS on a TLS socket: on plain
 * TCP Deno never raises `InvalidData` for the transport itself.
 *
 * @example
 * ```ts
 * import { classifySocketError } from "./errors.ts";
 * const e = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
 * console.log(classifySocketError(e, false)); // "CONNECTION_RESET"
 * ```
 *
 * @param error What the runtime threw or emitted.
 * @param tls Whether the socket runs (or was negotiating) TLS.
 * @returns The matching code; `NETWORK` when nothing more specific fits.
 */
export function classifySocketError(error: unknown, tls: boolean): RtmpErrorCode {
  if (error instanceof RtmpError) return error.code;
  const code = field(error, "code");
  const byCode = BY_CODE[code];
  if (byCode !== undefined) return byCode;
  if (
    code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_") || code.startsWith("CERT_") ||
    code.startsWith("ERR_OSSL_") || code.startsWith("SSL_")
  ) {
    return "TLS";
  }
  const name = field(error, "name");
  const byName = BY_NAME[name];
  if (byName !== undefined) return byName;
  if (tls) {
    if (name === "InvalidData" || name === "UnexpectedEof") return "TLS";
    if (/certificate|handshake|\btls\b|\bssl\b|alert/i.test(field(error, "message"))) return "TLS";
  }
  return "NETWORK";
}

/**
 * Wraps a runtime socket error in an {@linkcode RtmpError} whose message says what was being
 * done and what the runtime reported. An `RtmpError` passes through unchanged.
 *
 * @example
 * ```ts
 * import { toRtmpError } from "./errors.ts";
 * const e = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
 * const r = toRtmpError(e, "connect to 127.0.0.1:1", false);
 * console.log(r.code, r.message);
 * ```
 *
 * @param error What the runtime threw or emitted.
 * @param doing What the adapter was doing, e.g. `connect to 127.0.0.1:1935`.
 * @param tls Whether the socket runs (or was negotiating) TLS.
 * @returns The error to reject with.
 */
export function toRtmpError(error: unknown, doing: string, tls: boolean): RtmpError {
  if (error instanceof RtmpError) return error;
  const code = classifySocketError(error, tls);
  const detail = field(error, "message") || field(error, "code") || field(error, "name") ||
    String(error);
  return new RtmpError(code, `${doing}: ${EXPLAIN[code]} (${detail})`, { cause: error });
}

/** Why a TLS handshake failed, as one fixed phrase per kind of failure (the same everywhere). */
const TLS_REASONS: readonly [RegExp, (name: string) => string][] = [
  [
    /ALTNAME|HOSTNAME_MISMATCH|altnames|does not match certificate|not valid for name|NotValidForName/i,
    (name) => `the server's certificate is not valid for "${name}"`,
  ],
  [/CERT_HAS_EXPIRED|\bexpired\b/i, () => "the server's certificate has expired"],
  [
    /CERT_NOT_YET_VALID|not yet valid|NotValidYet/i,
    () => "the server's certificate is not valid yet (check the clock)",
  ],
  [/CERT_REVOKED|\bRevoked\b/i, () => "the server's certificate has been revoked"],
  [
    /SELF_SIGNED|self[- ]signed|UNABLE_TO_VERIFY|unable to verify|UNABLE_TO_GET_ISSUER|unable to get (local )?issuer|UnknownIssuer|BadSignature|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|INVALID_CA|UNABLE_TO_DECRYPT_CERT/i,
    () => "the server's certificate is not trusted (self-signed, or issued by an unknown CA)",
  ],
  [
    /WRONG_VERSION_NUMBER|wrong version number|InvalidContentType|corrupt message|packet length too long|unknown protocol|http request/i,
    () => "the server did not answer with TLS (is this a plain RTMP port?)",
  ],
  [
    /ECONNRESET|EPIPE|socket hang up|disconnected before secure TLS|UnexpectedEof|peer closed|closed before it was ready|ConnectionReset|BrokenPipe/i,
    () => "the server closed the connection during the handshake",
  ],
];

/**
 * The runtime's own text, without what only makes sense for its command line (Node's "try
 * running Node.js with --use-system-ca") or OpenSSL's error-queue framing and source paths.
 */
function runtimeDetail(error: unknown): string {
  let text = field(error, "message") || field(error, "code") || field(error, "name") ||
    String(error);
  text = text.replace(/;?\s*if the root CA is installed locally[^]*$/i, "");
  const openssl = /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(text);
  if (openssl !== null) text = openssl[1];
  return text.trim();
}

/**
 * The error for a TLS handshake that failed while connecting, worded the same on every
 * runtime and adapter: `TLS handshake with HOST:PORT failed: <reason>`, code `TLS`. The
 * runtime's error stays available as `cause`. An `RtmpError` (a timeout or abort that ended
 * the handshake) passes through unchanged.
 *
 * @example
 * ```ts
 * import { tlsHandshakeError } from "./errors.ts";
 * const e = Object.assign(new Error("self-signed certificate"), {
 *   code: "DEPTH_ZERO_SELF_SIGNED_CERT",
 * });
 * console.log(tlsHandshakeError(e, "127.0.0.1:1936", "127.0.0.1").message);
 * // TLS handshake with 127.0.0.1:1936 failed: the server's certificate is not trusted (self-signed, or issued by an unknown CA)
 * ```
 *
 * @param error What the runtime threw or emitted during the handshake.
 * @param endpoint `host:port` as the caller asked for it.
 * @param name The name the certificate was checked against (server name or host).
 * @returns A `TLS` error.
 */
export function tlsHandshakeError(error: unknown, endpoint: string, name: string): RtmpError {
  if (error instanceof RtmpError && error.code !== "TLS") return error;
  const cause = error instanceof RtmpError && error.cause !== undefined ? error.cause : error;
  const text = `${field(cause, "code")} ${field(cause, "name")} ${field(cause, "message")}`;
  let reason: string | undefined;
  for (const [pattern, phrase] of TLS_REASONS) {
    if (pattern.test(text)) {
      reason = phrase(name);
      break;
    }
  }
  if (reason === undefined) {
    const detail = runtimeDetail(cause);
    reason = /alert/i.test(detail) ? `the server refused the handshake (${detail})` : detail;
  }
  return new RtmpError("TLS", `TLS handshake with ${endpoint} failed: ${reason}`, { cause });
}

/**
 * Checks the parts of connect options every adapter relies on and throws `INVALID_ARGUMENT`
 * with what was expected and what came.
 *
 * @example
 * ```ts
 * import { checkEndpoint } from "./errors.ts";
 * checkEndpoint("127.0.0.1", 1935, "connect");
 * ```
 *
 * @param hostname Host to connect to or bind.
 * @param port TCP port.
 * @param doing `connect` or `listen`, for the message.
 * @param allowZero Whether port 0 is valid (listening picks a free port).
 */
export function checkEndpoint(
  hostname: unknown,
  port: unknown,
  doing: string,
  allowZero = false,
): void {
  if (typeof hostname !== "string" || hostname === "") {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `${doing}: expected a non-empty hostname string, got ${
        typeof hostname === "string" ? "an empty string" : typeof hostname
      }`,
    );
  }
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < (allowZero ? 0 : 1) ||
    port > 65535
  ) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `${doing}: expected a port integer in ${allowZero ? 0 : 1}..65535, got ${String(port)}`,
    );
  }
}

/**
 * Validates a connect timeout and applies the documented default of 10 000 ms.
 *
 * @example
 * ```ts
 * import { connectTimeout } from "./errors.ts";
 * console.log(connectTimeout(undefined)); // 10000
 * ```
 *
 * @param timeout The caller's value.
 * @returns Milliseconds to wait.
 */
export function connectTimeout(timeout: unknown): number {
  if (timeout === undefined) return 10_000;
  if (typeof timeout !== "number" || !(timeout > 0) || timeout > 2_147_483_647) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `connect: expected timeout in milliseconds in 1..2147483647, got ${String(timeout)}`,
    );
  }
  return timeout;
}

/**
 * Validates a listener's TLS handshake timeout and applies the default.
 *
 * @example
 * ```ts
 * import { tlsHandshakeTimeout } from "./errors.ts";
 * console.log(tlsHandshakeTimeout(undefined, 30_000), tlsHandshakeTimeout(2000, 30_000)); // 30000 2000
 * ```
 *
 * @param timeout The caller's value.
 * @param fallback The default.
 * @returns Milliseconds to allow.
 */
export function tlsHandshakeTimeout(timeout: unknown, fallback: number): number {
  if (timeout === undefined) return fallback;
  if (typeof timeout !== "number" || !(timeout > 0) || timeout > 2_147_483_647) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `listen: expected tls.handshakeTimeout in milliseconds in 1..2147483647, got ${
        String(timeout)
      }`,
    );
  }
  return timeout;
}

/**
 * The error a cancelled connect rejects with.
 *
 * @example
 * ```ts
 * import { abortedError } from "./errors.ts";
 * console.log(abortedError("connect to 127.0.0.1:1935", undefined).code); // "ABORTED"
 * ```
 *
 * @param doing What was cancelled.
 * @param reason The signal's reason.
 * @returns An `ABORTED` error carrying the reason as cause.
 */
export function abortedError(doing: string, reason: unknown): RtmpError {
  return new RtmpError("ABORTED", `${doing}: aborted by the caller's AbortSignal`, {
    cause: reason,
  });
}

/**
 * The error a connect that ran out of time rejects with.
 *
 * @example
 * ```ts
 * import { timeoutError } from "./errors.ts";
 * console.log(timeoutError("connect to 127.0.0.1:1935", 5000).code); // "TIMEOUT"
 * ```
 *
 * @param doing What timed out.
 * @param ms The deadline.
 * @returns A `TIMEOUT` error.
 */
export function timeoutError(doing: string, ms: number): RtmpError {
  return new RtmpError(
    "TIMEOUT",
    `${doing}: no connection within ${ms} ms (TCP connect and TLS handshake)`,
  );
}

/**
 * The error for using a connection after it was closed.
 *
 * @example
 * ```ts
 * import { closedError } from "./errors.ts";
 * console.log(closedError("write").code); // "CONNECTION_CLOSED"
 * ```
 *
 * @param doing The operation attempted.
 * @returns A `CONNECTION_CLOSED` error.
 */
export function closedError(doing: string): RtmpError {
  return new RtmpError(
    "CONNECTION_CLOSED",
    `${doing}: expected an open connection, but it was already closed`,
  );
}
