/**
 * Signed, expiring stream URLs: stateless publish (or play) tokens a backend hands out and the
 * server checks without a database, in the spirit of nginx's `secure_link` and SRS's token
 * authentication.
 *
 * The signature is `base64url(HMAC-SHA256(secret, app + "\n" + name + "\n" + expires))`, carried
 * with the expiry in the stream name's query: `rtmp://host/live/key?expires=1700000000&sig=…`.
 * `expires` is Unix time in seconds. Only the application, the stream name (without its query)
 * and the expiry are signed, so other query parameters can be added or reordered freely. Any
 * language can produce the same signature from that one line of definition.
 *
 * @example Sign in the backend, verify in the `onPublish` hook
 * ```ts
 * import { signStreamUrl, verifySignedStream } from "./signed_url.ts";
 * const secret = "a long random secret, 16+ bytes";
 * const url = signStreamUrl("rtmp://ingest.example.com/live/cam1", {
 *   secret,
 *   expires: Date.UTC(2030, 0, 1),
 * });
 * console.log(url.startsWith("rtmp://ingest.example.com/live/cam1?expires=1893456000&sig=")); // true
 *
 * // In the server, with the app and name from the publish request:
 * const query = new URLSearchParams(url.slice(url.indexOf("?") + 1));
 * const r = verifySignedStream({ app: "live", name: "cam1", query }, { secret, now: Date.UTC(2029, 0, 1) });
 * console.log(r.ok); // true
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { constantTimeEqual } from "../protocol/authmod.ts";
import { hmacSha256 } from "../protocol/sha256.ts";
import { parseRtmpUrl } from "../protocol/url.ts";

const te = new TextEncoder();

/** Shortest secret accepted: shorter ones can be guessed offline from any signed URL. */
const MIN_SECRET_BYTES = 16;

/** Query parameter holding the expiry (Unix seconds). */
const EXPIRES_PARAM = "expires";
/** Query parameter holding the signature (base64url, no padding). */
const SIG_PARAM = "sig";

/**
 * A signing secret: text (UTF-8) or bytes, at least 16 bytes long.
 *
 * @example
 * ```ts
 * import type { UrlSecret } from "./signed_url.ts";
 * const s: UrlSecret = "0123456789abcdef-and-more";
 * console.log(typeof s);
 * ```
 */
export type UrlSecret = string | Uint8Array;

/**
 * Options of {@linkcode signStreamUrl}.
 *
 * @example
 * ```ts
 * import type { SignStreamUrlOptions } from "./signed_url.ts";
 * const o: SignStreamUrlOptions = { secret: "0123456789abcdef", expires: Date.now() + 3_600_000 };
 * console.log(typeof o.expires); // number
 * ```
 */
export interface SignStreamUrlOptions {
  /** The shared secret. */
  secret: UrlSecret;
  /**
   * When the URL stops being valid: a `Date` or milliseconds since the Unix epoch (as from
   * `Date.now()`). The URL carries it rounded down to whole seconds.
   */
  expires: Date | number;
}

/**
 * Signs a stream URL: adds (or replaces) `expires` and `sig` in the stream name's query and
 * keeps any other parameter as written.
 *
 * The name is signed as it appears in the URL; encoders send it that way, except that FFmpeg
 * drops a trailing `.flv` and turns a trailing `.mp4` into an `mp4:` prefix, so avoid those.
 *
 * @example
 * ```ts
 * import { signStreamUrl } from "./signed_url.ts";
 * const url = signStreamUrl("rtmp://h/live/cam1?quality=hd", {
 *   secret: "0123456789abcdef",
 *   expires: new Date("2030-01-01T00:00:00Z"),
 * });
 * console.log(url.slice(0, 53)); // rtmp://h/live/cam1?quality=hd&expires=1893456000&sig=
 * ```
 *
 * @param url An `rtmp://` or `rtmps://` URL with an application and a stream name.
 * @param options Secret and expiry.
 * @returns The signed URL.
 */
export function signStreamUrl(url: string, options: SignStreamUrlOptions): string {
  const u = parseRtmpUrl(url);
  const q = u.streamName.indexOf("?");
  const name = q < 0 ? u.streamName : u.streamName.slice(0, q);
  if (name === "") {
    throw new RtmpError(
      "INVALID_URL",
      `a signed URL needs a stream name: expected rtmp://host/app/name, got "${url}"`,
    );
  }
  const expiresMs = options.expires instanceof Date ? options.expires.getTime() : options.expires;
  if (typeof expiresMs !== "number" || !Number.isFinite(expiresMs) || expiresMs <= 0) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `expires must be a Date or milliseconds since the epoch, got ${String(options.expires)}`,
    );
  }
  if (u.app.includes("\n") || name.includes("\n")) {
    throw new RtmpError("INVALID_URL", `a signed app or stream name cannot contain a line break`);
  }
  const expires = Math.floor(expiresMs / 1000);
  const sig = signature(secretBytes(options.secret), u.app, name, expires);
  const kept = q < 0 ? [] : u.streamName.slice(q + 1).split("&").filter((piece) => {
    if (piece === "") return false;
    const eq = piece.indexOf("=");
    const key = eq < 0 ? piece : piece.slice(0, eq);
    return key !== EXPIRES_PARAM && key !== SIG_PARAM;
  });
  kept.push(`${EXPIRES_PARAM}=${expires}`, `${SIG_PARAM}=${sig}`);
  return `${u.tcUrl}/${name}?${kept.join("&")}`;
}

/**
 * The stream a client asked for, as a server hook sees it.
 *
 * @example
 * ```ts
 * import type { SignedStream } from "./signed_url.ts";
 * const s: SignedStream = { app: "live", name: "cam1", query: "expires=1893456000&sig=abc" };
 * console.log(s.name);
 * ```
 */
export interface SignedStream {
  /** Application; anything from a `?` on is ignored. */
  app: string;
  /** Stream name; anything from a `?` on is ignored. */
  name: string;
  /** The stream name's query: parsed, or as text (with or without the leading `?`). */
  query: URLSearchParams | string;
}

/**
 * Options of {@linkcode verifySignedStream}.
 *
 * @example
 * ```ts
 * import type { VerifySignedStreamOptions } from "./signed_url.ts";
 * const o: VerifySignedStreamOptions = {
 *   secret: ["new secret, 16+ bytes", "old secret, 16+ bytes"],
 *   now: Date.now(),
 *   skew: 5_000,
 * };
 * console.log(o.skew);
 * ```
 */
export interface VerifySignedStreamOptions {
  /** The secret, or several (for rotation: a signature by any of them is accepted). */
  secret: UrlSecret | readonly UrlSecret[];
  /** Current time in milliseconds since the Unix epoch (`Date.now()`). */
  now: number;
  /**
   * How far past `expires` a URL is still accepted, in milliseconds, to absorb clock
   * differences between the signer and this server. Default 30 000.
   */
  skew?: number;
}

/**
 * Why a signed stream was refused.
 *
 * - `missing` — no `expires` or no `sig` parameter.
 * - `malformed` — a parameter repeated or not in the expected form.
 * - `bad_signature` — the signature does not match the app, name and expiry.
 * - `expired` — the signature is right but the URL expired (beyond the skew).
 *
 * @example
 * ```ts
 * import type { SignedStreamFailure } from "./signed_url.ts";
 * const r: SignedStreamFailure = "expired";
 * console.log(r);
 * ```
 */
export type SignedStreamFailure = "missing" | "malformed" | "bad_signature" | "expired";

/**
 * The result of {@linkcode verifySignedStream}.
 *
 * @example
 * ```ts
 * import type { SignedStreamResult } from "./signed_url.ts";
 * const r: SignedStreamResult = { ok: false, reason: "bad_signature" };
 * console.log(r.ok ? "ok" : r.reason); // bad_signature
 * ```
 */
export type SignedStreamResult =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: SignedStreamFailure };

/**
 * Checks a signed stream in constant time: the signature over app, name and expiry, then the
 * expiry against `now` with the skew tolerance.
 *
 * @example Use it in an `onPublish` hook
 * ```ts
 * import { verifySignedStream } from "./signed_url.ts";
 * const secret = "0123456789abcdef";
 * function onPublish(info: { app: string; name: string; query: URLSearchParams }) {
 *   const r = verifySignedStream(info, { secret, now: Date.now() });
 *   return r.ok ? { accept: true } : { accept: false, reason: `signed URL: ${r.reason}` };
 * }
 * console.log(onPublish({ app: "live", name: "cam1", query: new URLSearchParams() }));
 * // { accept: false, reason: "signed URL: missing" }
 * ```
 *
 * @param stream App, name and query of the request.
 * @param options Secret(s), current time and skew.
 * @returns `{ ok: true, expiresAt }` (milliseconds) or `{ ok: false, reason }`.
 */
export function verifySignedStream(
  stream: SignedStream,
  options: VerifySignedStreamOptions,
): SignedStreamResult {
  const { now } = options;
  const skew = options.skew ?? 30_000;
  if (typeof now !== "number" || !Number.isFinite(now)) {
    throw new RtmpError("INVALID_ARGUMENT", `now must be milliseconds since the epoch, got ${now}`);
  }
  if (typeof skew !== "number" || !Number.isFinite(skew) || skew < 0) {
    throw new RtmpError("INVALID_ARGUMENT", `skew must be >= 0 ms, got ${skew}`);
  }
  const secrets = (Array.isArray(options.secret) ? options.secret : [options.secret]).map(
    secretBytes,
  );
  if (secrets.length === 0) {
    throw new RtmpError("INVALID_ARGUMENT", "secret must be a secret or a non-empty list of them");
  }
  const query = typeof stream.query === "string"
    ? new URLSearchParams(stream.query.startsWith("?") ? stream.query.slice(1) : stream.query)
    : stream.query;
  const expiresAll = query.getAll(EXPIRES_PARAM);
  const sigAll = query.getAll(SIG_PARAM);
  if (expiresAll.length === 0 || sigAll.length === 0) return { ok: false, reason: "missing" };
  if (expiresAll.length > 1 || sigAll.length > 1) return { ok: false, reason: "malformed" };
  const expiresText = expiresAll[0];
  const sig = sigAll[0];
  // 43 characters: 32 bytes in unpadded base64url.
  if (!/^\d{1,15}$/.test(expiresText) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) {
    return { ok: false, reason: "malformed" };
  }
  const expires = Number(expiresText);
  const app = beforeQuery(stream.app);
  const name = beforeQuery(stream.name);
  // The signed text joins app and name with a line break, so neither may contain one.
  if (app.includes("\n") || name.includes("\n")) return { ok: false, reason: "malformed" };
  let match = false;
  // Every secret is tried, so the time taken does not tell which one (if any) matched.
  for (const key of secrets) {
    match = constantTimeEqual(signature(key, app, name, expires), sig) || match;
  }
  if (!match) return { ok: false, reason: "bad_signature" };
  const expiresAt = expires * 1000;
  if (now > expiresAt + skew) return { ok: false, reason: "expired" };
  return { ok: true, expiresAt };
}

/**
 * Options of {@linkcode signedUrlHook}.
 *
 * @example
 * ```ts
 * import type { SignedUrlHookOptions } from "./signed_url.ts";
 * const o: SignedUrlHookOptions = { secret: "0123456789abcdef", skew: 5_000 };
 * console.log(o.skew);
 * ```
 */
export interface SignedUrlHookOptions {
  /** The secret, or several (rotation: a signature by any of them is accepted). */
  secret: UrlSecret | readonly UrlSecret[];
  /** Tolerance past `expires` in milliseconds, for clock differences. Default 30 000. */
  skew?: number;
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/**
 * The answer of a {@linkcode signedUrlHook} hook, in the shape the server's `onPublish` /
 * `onPlay` hooks answer: `reason` goes to the server log, `description` to the client.
 *
 * @example
 * ```ts
 * import type { SignedUrlDecision } from "./signed_url.ts";
 * const d: SignedUrlDecision = { accept: false, reason: "signed URL expired", description: "expired" };
 * console.log(d.accept);
 * ```
 */
export type SignedUrlDecision =
  | { accept: true }
  | { accept: false; reason: string; description: string };

// What the client is told; saying which check failed helps the user and reveals no secret.
const SIGNED_URL_TEXT: Record<SignedStreamFailure, string> = {
  missing: "This stream needs a signed URL (expires and sig parameters).",
  malformed: "The signed URL is malformed.",
  bad_signature: "The signed URL is not valid for this stream.",
  expired: "The signed URL has expired.",
};

/**
 * A ready-made `onPublish` / `onPlay` hook that accepts only streams whose URL was signed
 * with {@linkcode signStreamUrl} and has not expired. It reads `app`, `name` and `query`, so
 * it works for RTMP publishers and players and for HTTP-FLV viewers alike. The secrets are
 * checked when the hook is made.
 *
 * @example
 * ```ts
 * import { signedUrlHook, signStreamUrl } from "./signed_url.ts";
 * const secret = "0123456789abcdef";
 * const hook = signedUrlHook({ secret });
 * // const server = await RtmpServer.listen({ onPublish: hook, onPlay: hook });
 * const url = signStreamUrl("rtmp://h/live/cam", { secret, expires: Date.now() + 60_000 });
 * const query = new URLSearchParams(url.slice(url.indexOf("?") + 1));
 * console.log(hook({ app: "live", name: "cam", query }).accept); // true
 * console.log(hook({ app: "live", name: "other", query }).accept); // false
 * ```
 *
 * @param options Secret(s), skew and clock.
 * @returns The hook.
 */
export function signedUrlHook(
  options: SignedUrlHookOptions,
): (stream: SignedStream) => SignedUrlDecision {
  const secret = options.secret;
  const list = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0) {
    throw new RtmpError("INVALID_ARGUMENT", "secret must be a secret or a non-empty list of them");
  }
  list.forEach(secretBytes);
  const skew = options.skew ?? 30_000;
  if (typeof skew !== "number" || !Number.isFinite(skew) || skew < 0) {
    throw new RtmpError("INVALID_ARGUMENT", `skew must be >= 0 ms, got ${skew}`);
  }
  const now = options.now ?? Date.now;
  return (stream) => {
    const r = verifySignedStream(stream, { secret, skew, now: now() });
    if (r.ok) return { accept: true };
    return {
      accept: false,
      reason: `signed URL ${r.reason.replace("_", " ")}`,
      description: SIGNED_URL_TEXT[r.reason],
    };
  };
}

function beforeQuery(s: string): string {
  const q = s.indexOf("?");
  return q < 0 ? s : s.slice(0, q);
}

function signature(key: Uint8Array, app: string, name: string, expires: number): string {
  const mac = hmacSha256(key, te.encode(`${app}\n${name}\n${expires}`));
  let s = "";
  for (const b of mac) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function secretBytes(secret: UrlSecret): Uint8Array {
  const bytes = typeof secret === "string"
    ? te.encode(secret)
    : secret instanceof Uint8Array
    ? secret
    : undefined;
  if (bytes === undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `secret must be a string or a Uint8Array, got ${secret === null ? "null" : typeof secret}`,
    );
  }
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `secret must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}
