/**
 * The single error class of @x/rtmp. Every failure the library reports — malformed bytes, a
 * hostile peer, a rejected stream key, a socket problem, a bad URL or CLI flag — is an
 * {@linkcode RtmpError} with a stable {@linkcode RtmpErrorCode}, so callers branch on `code`
 * instead of parsing messages.
 *
 * @module
 */

/**
 * Stable machine-readable error codes.
 *
 * - `MALFORMED` — bytes that break a format rule (chunk header, AMF, FLV tag, message body).
 * - `UNSUPPORTED` — well-formed input using a feature we do not implement.
 * - `LIMIT_EXCEEDED` — input over a configured bound (message size, chunk streams, depth…).
 * - `HANDSHAKE_FAILED` — the RTMP handshake could not complete (bad version, bad digest…).
 * - `INVALID_URL` — not a usable `rtmp://` / `rtmps://` URL.
 * - `INVALID_ARGUMENT` — a caller passed a value outside the documented range.
 * - `PROTOCOL` — a peer broke the command flow (unexpected message, missing field…).
 * - `REJECTED` — the peer refused: `_error`, an error-level `onStatus`, `Connect.Rejected`.
 * - `TIMEOUT` — an operation did not finish within its deadline.
 * - `ABORTED` — an `AbortSignal` fired.
 * - `CONNECTION_REFUSED` — nothing listens at the address.
 * - `CONNECTION_RESET` — the peer reset the connection.
 * - `CONNECTION_CLOSED` — the connection ended while an operation needed it.
 * - `TLS` — TLS negotiation or certificate verification failed.
 * - `ADDRESS_IN_USE` — a listener could not bind.
 * - `NETWORK` — any other socket-level failure (DNS, unreachable…).
 * - `IO` — a file-system failure.
 * - `CLOSED` — the object was used after it was closed.
 */
export type RtmpErrorCode =
  | "MALFORMED"
  | "UNSUPPORTED"
  | "LIMIT_EXCEEDED"
  | "HANDSHAKE_FAILED"
  | "INVALID_URL"
  | "INVALID_ARGUMENT"
  | "PROTOCOL"
  | "REJECTED"
  | "TIMEOUT"
  | "ABORTED"
  | "CONNECTION_REFUSED"
  | "CONNECTION_RESET"
  | "CONNECTION_CLOSED"
  | "TLS"
  | "ADDRESS_IN_USE"
  | "NETWORK"
  | "IO"
  | "CLOSED";

/** Extra context an {@linkcode RtmpError} may carry. */
export interface RtmpErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** For `REJECTED`: the status code the peer sent, e.g. `NetStream.Publish.BadName`. */
  status?: string;
  /** For `REJECTED`: the description the peer sent. */
  description?: string;
}

/**
 * The error thrown or rejected by every part of @x/rtmp.
 *
 * @example Branch on the code
 * ```ts
 * import { RtmpError } from "./errors.ts";
 *
 * try {
 *   throw new RtmpError("MALFORMED", "chunk header: csid 1 needs 3 bytes, got 2");
 * } catch (e) {
 *   if (e instanceof RtmpError && e.code === "MALFORMED") console.log(e.message);
 * }
 * ```
 */
export class RtmpError extends Error {
  /** Stable, machine-readable kind of failure. */
  readonly code: RtmpErrorCode;
  /** For rejections: the status code the peer sent (e.g. `NetStream.Publish.BadName`). */
  readonly status?: string;
  /** For rejections: the description the peer sent. */
  readonly description?: string;

  /**
   * Creates an error.
   *
   * @param code Stable kind of failure.
   * @param message What was expected and what came instead.
   * @param options Cause and, for rejections, the peer's status code and description.
   */
  constructor(code: RtmpErrorCode, message: string, options: RtmpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RtmpError";
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
    if (options.description !== undefined) this.description = options.description;
  }
}

/**
 * Whether `value` is an {@linkcode RtmpError}, optionally with the given code.
 *
 * @example
 * ```ts
 * import { isRtmpError, RtmpError } from "./errors.ts";
 * console.log(isRtmpError(new RtmpError("TIMEOUT", "x"), "TIMEOUT")); // true
 * ```
 *
 * @param value Anything caught.
 * @param code When given, the code it must have.
 * @returns `true` when it is such an error.
 */
export function isRtmpError(value: unknown, code?: RtmpErrorCode): value is RtmpError {
  return value instanceof RtmpError && (code === undefined || value.code === code);
}
