/**
 * Publisher authentication with Adobe's `authmod=adobe` and Limelight's `authmod=llnw`
 * challenge–response, sans-IO: strings in, strings and decisions out.
 *
 * This is what OBS's "Use authentication" (librtmp) and FFmpeg's `rtmp://user:pass@host/app/key`
 * speak. Each step is a separate TCP connection: the server answers `connect` with an `_error`
 * (`NetConnection.Connect.Rejected`) whose `description` tells the encoder what to send next,
 * and the encoder reconnects with the answer appended to `app` and `tcUrl`:
 *
 * | connect `app`                                        | server `description`                                                                                    |
 * |------------------------------------------------------|---------------------------------------------------------------------------------------------------------|
 * | `live`                                               | `[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : `                                   |
 * | `live?authmod=adobe&user=U`                          | `[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=U&salt=S&challenge=C&opaque=C`    |
 * | `live?authmod=adobe&user=U&challenge=K&response=R&opaque=C` | accepted, or `[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed&opaque=C`        |
 *
 * The response is `base64(md5(base64(md5(user + salt + password)) + opaque + K))`, with the
 * server's `challenge` in place of `opaque` when the server sent none (FFmpeg `do_adobe_auth`,
 * librtmp `PublisherAuth`). Clients differ on which of the two they prefer when both are present,
 * so the server here sends the same value for both (as Red5 and Pexip's server do) and every
 * client computes the same answer.
 *
 * Limelight (`llnw`) follows HTTP Digest (RFC 2617 §3.2.2) with realm `live`, method `publish`,
 * qop `auth`: `hex(md5(hex(md5(user:live:password)) : nonce : nc : cnonce : auth :
 * hex(md5(publish:/app[/_definst_]))))`; the server's challenge is `?reason=needauth&user=U&nonce=N`.
 *
 * The description texts are the ones encoders search for: FFmpeg's `handle_connect_error` and
 * librtmp's `PublisherAuth` look for `authmod=adobe` / `authmod=llnw`, then `code=403 need auth`,
 * `?reason=needauth`, `?reason=authfailed` and `?reason=nosuchuser`, and read the `key=value`
 * pairs after `?reason=needauth` up to the end of the string.
 *
 * Values in the query are compared and hashed exactly as sent (no percent- or `+`-decoding):
 * clients hash the `user` the server echoed and librtmp's base64 client challenge may contain
 * `+`, `/` and `=`.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { md5 } from "./md5.ts";

/**
 * An authentication scheme: Adobe's (`adobe`) or Limelight's (`llnw`).
 *
 * @example
 * ```ts
 * import type { AuthMod } from "./authmod.ts";
 * const preferred: AuthMod = "adobe";
 * console.log(preferred);
 * ```
 */
export type AuthMod = "adobe" | "llnw";

/**
 * Source of random bytes, injected so this module stays free of I/O and testable. In production
 * pass `(n) => crypto.getRandomValues(new Uint8Array(n))`.
 *
 * @example
 * ```ts
 * import type { RandomBytes } from "./authmod.ts";
 * const random: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));
 * console.log(random(4).length); // 4
 * ```
 */
export type RandomBytes = (n: number) => Uint8Array;

/**
 * The status `code` of every authentication `_error` answer to `connect`.
 *
 * @example
 * ```ts
 * import { AUTH_REJECTED_CODE } from "./authmod.ts";
 * console.log(AUTH_REJECTED_CODE); // NetConnection.Connect.Rejected
 * ```
 */
export const AUTH_REJECTED_CODE = "NetConnection.Connect.Rejected";

const te = new TextEncoder();

// Limelight's fixed digest parameters (FFmpeg do_llnw_auth, librtmp PublisherAuth).
const LLNW_REALM = "live";
const LLNW_METHOD = "publish";
const LLNW_QOP = "auth";
const LLNW_NC = "00000001";

// The query keys the schemes add to `app`/`tcUrl`; stripped before the app reaches hooks.
const AUTH_KEYS = new Set([
  "authmod",
  "user",
  "challenge",
  "response",
  "opaque",
  "salt",
  "nonce",
  "cnonce",
  "nc",
]);

// FFmpeg reads the description into a 256-byte buffer; keep the echoed user well inside it.
const MAX_USER_LENGTH = 64;

/**
 * Compares two strings in time that depends only on their lengths, not on where they differ.
 *
 * @example
 * ```ts
 * import { constantTimeEqual } from "./authmod.ts";
 * console.log(constantTimeEqual("abc", "abc"), constantTimeEqual("abc", "abd")); // true false
 * ```
 *
 * @param a First string.
 * @param b Second string.
 * @returns Whether they are equal.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = te.encode(a);
  const y = te.encode(b);
  const n = Math.max(x.length, y.length);
  let diff = x.length ^ y.length;
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function md5Base64(text: string): string {
  return base64(md5(te.encode(text)));
}

function md5Hex(text: string): string {
  return hex(md5(te.encode(text)));
}

/** Random token for salts, challenges and nonces: base64url, so it needs no escaping anywhere. */
function token(random: RandomBytes, n: number): string {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `random(${n}) must return a Uint8Array of ${n} bytes, got ${describe(bytes)}`,
    );
  }
  return base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  return v === null ? "null" : typeof v;
}

/**
 * Inputs of the Adobe response. All strings are used exactly as they appear on the wire.
 *
 * @example
 * ```ts
 * import type { AdobeResponseInput } from "./authmod.ts";
 * const input: AdobeResponseInput = {
 *   user: "alice", password: "secret", salt: "S4lt", opaque: "0paque", clientChallenge: "1a2b3c4d",
 * };
 * console.log(input.user);
 * ```
 */
export interface AdobeResponseInput {
  /** User name as the server echoed it in its challenge. */
  user: string;
  /** The password. */
  password: string;
  /** The server's `salt`. */
  salt: string;
  /** The server's `opaque`; when present (even empty) it is used instead of `challenge`. */
  opaque?: string;
  /** The server's `challenge`; used only when there is no `opaque`. */
  challenge?: string;
  /** The client's own challenge, sent back as `challenge=`. */
  clientChallenge: string;
}

/**
 * The Adobe `authmod` response:
 * `base64(md5(base64(md5(user + salt + password)) + (opaque ?? challenge) + clientChallenge))`,
 * the rule of FFmpeg's `do_adobe_auth`.
 *
 * @example
 * ```ts
 * import { adobeResponse } from "./authmod.ts";
 * const r = adobeResponse({
 *   user: "alice", password: "secret", salt: "S4lt", opaque: "0paque", clientChallenge: "1a2b3c4d",
 * });
 * console.log(r.length); // 24 (base64 of a 16-byte digest)
 * ```
 *
 * @param input User, password, the server's salt/opaque/challenge and the client challenge.
 * @returns The base64 response.
 */
export function adobeResponse(input: AdobeResponseInput): string {
  const hash1 = md5Base64(input.user + input.salt + input.password);
  const serverPart = input.opaque ?? input.challenge ?? "";
  return md5Base64(hash1 + serverPart + input.clientChallenge);
}

/**
 * Inputs of the Limelight response. All strings are used exactly as they appear on the wire.
 *
 * @example
 * ```ts
 * import type { LlnwResponseInput } from "./authmod.ts";
 * const input: LlnwResponseInput = {
 *   user: "alice", password: "secret", app: "live", nonce: "n0nce", cnonce: "0badc0de", nc: "00000001",
 * };
 * console.log(input.app);
 * ```
 */
export interface LlnwResponseInput {
  /** User name as the server echoed it in its challenge. */
  user: string;
  /** The password. */
  password: string;
  /** Application without any query string (`live`, or `app/instance`). */
  app: string;
  /** The server's `nonce`. */
  nonce: string;
  /** The client's nonce (8 hex digits in FFmpeg and librtmp). */
  cnonce: string;
  /** Nonce count, `00000001` in FFmpeg and librtmp. */
  nc: string;
}

/**
 * The Limelight `authmod` response, HTTP Digest style (RFC 2617 §3.2.2.1) with realm `live`,
 * method `publish` and qop `auth`; an app without an instance gets `/_definst_` (FFmpeg
 * `do_llnw_auth`).
 *
 * @example
 * ```ts
 * import { llnwResponse } from "./authmod.ts";
 * const r = llnwResponse({
 *   user: "alice", password: "secret", app: "live", nonce: "n0nce", cnonce: "0badc0de", nc: "00000001",
 * });
 * console.log(r.length); // 32 (lower-case hex of a 16-byte digest)
 * ```
 *
 * @param input User, password, app, the server's nonce and the client's cnonce and nc.
 * @returns The lower-case hex response.
 */
export function llnwResponse(input: LlnwResponseInput): string {
  const ha1 = md5Hex(`${input.user}:${LLNW_REALM}:${input.password}`);
  const path = input.app.includes("/") ? input.app : `${input.app}/_definst_`;
  const ha2 = md5Hex(`${LLNW_METHOD}:/${path}`);
  return md5Hex(`${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${LLNW_QOP}:${ha2}`);
}

/**
 * Authentication parameters found in a connect `app` or `tcUrl`, raw (as sent).
 *
 * @example
 * ```ts
 * import { stripAuthParams } from "./authmod.ts";
 * const { auth } = stripAuthParams("live?authmod=adobe&user=alice");
 * console.log(auth?.authmod, auth?.user); // adobe alice
 * ```
 */
export interface AuthParams {
  /** The requested scheme as sent (`adobe`, `llnw`, or anything a client put there). */
  authmod: string;
  /** `user`, raw. */
  user?: string;
  /** Adobe: the client's challenge. */
  challenge?: string;
  /** The client's response. */
  response?: string;
  /** Adobe: the server's opaque, echoed. */
  opaque?: string;
  /** Llnw: the server's nonce, echoed. */
  nonce?: string;
  /** Llnw: the client's nonce. */
  cnonce?: string;
  /** Llnw: the nonce count. */
  nc?: string;
}

/**
 * An `app` or `tcUrl` with its authentication parameters taken off.
 *
 * @example
 * ```ts
 * import { stripAuthParams } from "./authmod.ts";
 * const s = stripAuthParams("rtmp://h/live?authmod=adobe&user=al%40ice");
 * console.log(s.clean, s.user); // rtmp://h/live al@ice
 * ```
 */
export interface StrippedAuth {
  /** The input without authentication parameters; other query parameters are kept. */
  clean: string;
  /** The parameters, or `undefined` when there is no `authmod=`. */
  auth?: AuthParams;
  /** The user name, percent-decoded (raw if it does not decode), for lookups and logs. */
  user?: string;
}

/**
 * Takes the `authmod` parameters off a connect `app` or `tcUrl`. Encoders append them at the
 * end, after `?` or, when the app already has a query, after a second `?` or `&`
 * (`live?x=1?authmod=adobe&user=u`); any other parameter after them is kept in `clean`.
 *
 * @example
 * ```ts
 * import { stripAuthParams } from "./authmod.ts";
 * const s = stripAuthParams("live?vhost=a?authmod=adobe&user=bob&challenge=x&response=y");
 * console.log(s.clean, s.user, s.auth?.response); // live?vhost=a bob y
 * console.log(stripAuthParams("live").auth); // undefined
 * ```
 *
 * @param appOrTcUrl The `app` or `tcUrl` string from `connect`.
 * @returns The clean string, the raw parameters and the decoded user name.
 */
export function stripAuthParams(appOrTcUrl: string): StrippedAuth {
  const at = findAuthStart(appOrTcUrl);
  if (at < 0) return { clean: appOrTcUrl };
  const prefix = appOrTcUrl.slice(0, at);
  const found: Record<string, string> = {};
  const kept: string[] = [];
  for (const piece of appOrTcUrl.slice(at + 1).split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const key = eq < 0 ? piece : piece.slice(0, eq);
    const value = eq < 0 ? "" : piece.slice(eq + 1);
    if (AUTH_KEYS.has(key)) {
      // First one wins, and the same value is used for the lookup and the hash.
      if (!(key in found)) found[key] = value;
    } else {
      kept.push(piece);
    }
  }
  const sep = prefix.includes("?") ? "&" : "?";
  const clean = kept.length > 0 ? prefix + sep + kept.join("&") : prefix;
  const auth: AuthParams = { authmod: found.authmod ?? "" };
  for (const k of ["user", "challenge", "response", "opaque", "nonce", "cnonce", "nc"] as const) {
    if (k in found) auth[k] = found[k];
  }
  const result: StrippedAuth = { clean, auth };
  if (auth.user !== undefined) result.user = decodeUser(auth.user);
  return result;
}

function findAuthStart(s: string): number {
  const q = s.indexOf("?authmod=");
  const a = s.indexOf("&authmod=");
  if (q < 0) return a;
  if (a < 0) return q;
  return Math.min(q, a);
}

function decodeUser(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A user name we can echo in a description and hash: printable, no separators, bounded. */
function usableUser(raw: string): boolean {
  // deno-lint-ignore no-control-regex
  return raw.length > 0 && raw.length <= MAX_USER_LENGTH && !/[\u0000-\u0020\u007f&#?]/.test(raw);
}

/**
 * Why an authentication attempt failed for good.
 *
 * - `authfailed` — wrong password or response, an expired or unknown challenge, or (unless
 *   `revealUnknownUser`) an unknown user.
 * - `nosuchuser` — unknown or unusable user name.
 * - `invalid_authmod` — a scheme the server does not offer.
 *
 * @example
 * ```ts
 * import type { AuthFailure } from "./authmod.ts";
 * const r: AuthFailure = "authfailed";
 * console.log(r);
 * ```
 */
export type AuthFailure = "authfailed" | "nosuchuser" | "invalid_authmod";

/**
 * The server's decision for one `connect`. Except for `accepted` and `need_password`, answer
 * the `connect` with `_error` {@linkcode AUTH_REJECTED_CODE} and `description`, then close.
 *
 * - `accepted` — the response is right; `app` is the clean application name.
 * - `need_password` — look the password up for `user`, then call
 *   {@linkcode AuthmodServer.authenticate} again with `password` (a string, or `null` for an
 *   unknown user).
 * - `challenge` — a normal step of the exchange (`step` says which), not a failure.
 * - `failed` — a failure to count and log; `reason` says why. Neither `description` nor any
 *   other field holds the password or the client's response.
 *
 * @example
 * ```ts
 * import type { ServerAuthOutcome } from "./authmod.ts";
 * function log(o: ServerAuthOutcome): string {
 *   return o.kind === "failed" ? `auth failed (${o.reason}) for ${o.user ?? "?"}` : o.kind;
 * }
 * console.log(log({ kind: "need_password", authmod: "adobe", user: "bob" })); // need_password
 * ```
 */
export type ServerAuthOutcome =
  | { kind: "accepted"; authmod: AuthMod; user: string; app: string }
  | { kind: "need_password"; authmod: AuthMod; user: string }
  | {
    kind: "challenge";
    step: "need_user" | "need_response";
    authmod: AuthMod;
    user?: string;
    description: string;
  }
  | { kind: "failed"; reason: AuthFailure; authmod?: AuthMod; user?: string; description: string };

/**
 * Options of {@linkcode AuthmodServer}.
 *
 * @example
 * ```ts
 * import type { AuthmodServerOptions } from "./authmod.ts";
 * const o: AuthmodServerOptions = { mods: ["adobe"], challengeTtl: 30_000, maxPending: 256 };
 * console.log(o.mods);
 * ```
 */
export interface AuthmodServerOptions {
  /** Schemes accepted; the first is the one offered to a client that sent none. Default `["adobe", "llnw"]`. */
  mods?: readonly AuthMod[];
  /** How long an issued challenge can be answered, in milliseconds. Default 60 000. */
  challengeTtl?: number;
  /** Most challenges waiting for an answer; the oldest is dropped beyond it. Default 1024. */
  maxPending?: number;
  /**
   * Answer `nosuchuser` for an unknown user instead of `authfailed`. Off by default so the
   * answers do not tell which user names exist.
   */
  revealUnknownUser?: boolean;
}

/**
 * Per-call inputs of {@linkcode AuthmodServer.authenticate}.
 *
 * @example
 * ```ts
 * import type { AuthenticateOptions } from "./authmod.ts";
 * const o: AuthenticateOptions = {
 *   now: 0,
 *   random: (n) => crypto.getRandomValues(new Uint8Array(n)),
 *   password: "secret",
 * };
 * console.log(o.now);
 * ```
 */
export interface AuthenticateOptions {
  /** Current time in milliseconds (any monotonic or wall clock, used consistently). */
  now: number;
  /** Random bytes for salts, challenges and nonces. */
  random: RandomBytes;
  /**
   * The user's password once looked up: a string, or `null` for an unknown user. Leave it out
   * on the first call; the outcome `need_password` asks for it.
   */
  password?: string | null;
}

/** One issued challenge, waiting for its answer. */
interface Pending {
  authmod: AuthMod;
  /** The user as sent (raw), bound to the challenge. */
  user: string;
  /** Adobe salt; `""` for llnw. */
  salt: string;
  /** Adobe challenge and opaque (the same value), or the llnw nonce. */
  challenge: string;
  expiresAt: number;
}

/**
 * The server side of `authmod=adobe` / `authmod=llnw`. It remembers the challenges it issued
 * (single use, bounded in number and age), because each step of the exchange arrives on a new
 * connection. Keep one per server. No I/O: time, randomness and the password lookup's result
 * come in as arguments.
 *
 * @example A whole exchange, the client played by {@linkcode AuthmodClient}
 * ```ts
 * import { AuthmodClient, AuthmodServer, withAuthQuery } from "./authmod.ts";
 * const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
 * const server = new AuthmodServer();
 * const client = new AuthmodClient({ user: "bob", password: "pw", app: "live", random });
 * let app = "live";
 * for (;;) {
 *   let o = server.authenticate(app, { now: 0, random });
 *   if (o.kind === "need_password") o = server.authenticate(app, { now: 0, random, password: "pw" });
 *   if (o.kind === "accepted") { console.log("accepted", o.user, o.app); break; } // accepted bob live
 *   if (o.kind === "need_password") throw new Error("unreachable");
 *   const step = client.onConnectRejected(o.description);
 *   if (step.kind !== "retry") throw step.kind === "failed" ? step.error : new Error(o.description);
 *   app = withAuthQuery("live", step.query);
 * }
 * ```
 */
export class AuthmodServer {
  readonly #mods: readonly AuthMod[];
  readonly #ttl: number;
  readonly #max: number;
  readonly #reveal: boolean;
  // Keyed by `${authmod}:${challenge}`; insertion order is expiry order (one fixed TTL).
  readonly #pending = new Map<string, Pending>();

  /**
   * Creates a server with no challenges issued yet.
   *
   * @param options Schemes, challenge lifetime and bound, unknown-user policy.
   */
  constructor(options: AuthmodServerOptions = {}) {
    const mods = options.mods ?? ["adobe", "llnw"];
    if (mods.length === 0 || mods.some((m) => m !== "adobe" && m !== "llnw")) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `mods must list "adobe" and/or "llnw", got ${JSON.stringify(mods)}`,
      );
    }
    const ttl = options.challengeTtl ?? 60_000;
    const max = options.maxPending ?? 1024;
    if (!(ttl > 0) || !Number.isFinite(ttl)) {
      throw new RtmpError("INVALID_ARGUMENT", `challengeTtl must be > 0 ms, got ${ttl}`);
    }
    if (!Number.isInteger(max) || max < 1) {
      throw new RtmpError("INVALID_ARGUMENT", `maxPending must be an integer >= 1, got ${max}`);
    }
    this.#mods = [...mods];
    this.#ttl = ttl;
    this.#max = max;
    this.#reveal = options.revealUnknownUser ?? false;
  }

  /**
   * How many issued challenges are waiting for an answer (expired ones included until they are
   * swept by the next call).
   *
   * @returns The count.
   */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Decides what to answer to a `connect` whose `app` (or `tcUrl`) may carry `authmod`
   * parameters. Call it again with `password` when the outcome is `need_password`.
   *
   * @param app The `app` field of `connect`, as sent.
   * @param options Current time, randomness and, on the second call, the looked-up password.
   * @returns The outcome; see {@linkcode ServerAuthOutcome}.
   */
  authenticate(app: string, options: AuthenticateOptions): ServerAuthOutcome {
    const { now } = options;
    this.#sweep(now);
    const { auth, user, clean } = stripAuthParams(app);
    if (auth === undefined) {
      const authmod = this.#mods[0];
      return {
        kind: "challenge",
        step: "need_user",
        authmod,
        description: `[ AccessManager.Reject ] : [ code=403 need auth; authmod=${authmod} ] : `,
      };
    }
    const authmod = this.#mods.find((m) => m === auth.authmod);
    if (authmod === undefined) {
      return {
        kind: "failed",
        reason: "invalid_authmod",
        description: reject(this.#mods[0], "?reason=invalid_authmod&opaque=-"),
      };
    }
    const rawUser = auth.user ?? "";
    if (!usableUser(rawUser)) {
      return {
        kind: "failed",
        reason: "nosuchuser",
        authmod,
        ...(user ? { user } : {}),
        description: reject(authmod, `?reason=nosuchuser${opaqueTail(authmod, "-")}`),
      };
    }
    const name = user ?? rawUser;
    if (auth.response === undefined) {
      return this.#issue(authmod, rawUser, name, options);
    }
    // The client answers a challenge: find it (and the password, if not known yet).
    const key = authmod === "adobe" ? auth.opaque : auth.nonce;
    const entry = this.#find(authmod, rawUser, key, now);
    if (entry === undefined) return this.#authFailed(authmod, name, "-");
    if (options.password === undefined) return { kind: "need_password", authmod, user: name };
    // Single use: whatever the result, this challenge cannot be answered again.
    this.#pending.delete(`${authmod}:${entry.challenge}`);
    if (options.password === null) {
      return this.#reveal
        ? {
          kind: "failed",
          reason: "nosuchuser",
          authmod,
          user: name,
          description: reject(authmod, `?reason=nosuchuser${opaqueTail(authmod, entry.challenge)}`),
        }
        : this.#authFailed(authmod, name, entry.challenge);
    }
    const ok = authmod === "adobe"
      ? auth.challenge !== undefined &&
        constantTimeEqual(
          adobeResponse({
            user: rawUser,
            password: options.password,
            salt: entry.salt,
            opaque: entry.challenge,
            clientChallenge: auth.challenge,
          }),
          auth.response,
        )
      : auth.cnonce !== undefined && auth.nc !== undefined &&
        constantTimeEqual(
          llnwResponse({
            user: rawUser,
            password: options.password,
            app: clean.split("?")[0],
            nonce: entry.challenge,
            cnonce: auth.cnonce,
            nc: auth.nc,
          }),
          auth.response.toLowerCase(),
        );
    if (!ok) return this.#authFailed(authmod, name, entry.challenge);
    return { kind: "accepted", authmod, user: name, app: clean };
  }

  #issue(
    authmod: AuthMod,
    rawUser: string,
    name: string,
    options: AuthenticateOptions,
  ): ServerAuthOutcome {
    let salt = "";
    let challenge: string;
    let description: string;
    if (authmod === "adobe") {
      salt = token(options.random, 6);
      challenge = token(options.random, 6);
      description = reject(
        "adobe",
        `?reason=needauth&user=${rawUser}&salt=${salt}&challenge=${challenge}&opaque=${challenge}`,
      );
    } else {
      challenge = token(options.random, 9);
      description = reject("llnw", `?reason=needauth&user=${rawUser}&nonce=${challenge}`);
    }
    const key = `${authmod}:${challenge}`;
    this.#pending.delete(key);
    while (this.#pending.size >= this.#max) {
      const oldest = this.#pending.keys().next().value as string;
      this.#pending.delete(oldest);
    }
    this.#pending.set(key, {
      authmod,
      user: rawUser,
      salt,
      challenge,
      expiresAt: options.now + this.#ttl,
    });
    return { kind: "challenge", step: "need_response", authmod, user: name, description };
  }

  #find(
    authmod: AuthMod,
    rawUser: string,
    key: string | undefined,
    now: number,
  ): Pending | undefined {
    let entry: Pending | undefined;
    if (key !== undefined) {
      entry = this.#pending.get(`${authmod}:${key}`);
    } else {
      // A client that does not echo `opaque` (it answered `challenge`, which has the same
      // value): take the newest challenge issued to this user.
      for (const e of this.#pending.values()) {
        if (e.authmod === authmod && e.user === rawUser) entry = e;
      }
    }
    if (entry === undefined || entry.user !== rawUser || entry.expiresAt <= now) return undefined;
    return entry;
  }

  #authFailed(authmod: AuthMod, user: string, opaque: string): ServerAuthOutcome {
    return {
      kind: "failed",
      reason: "authfailed",
      authmod,
      user,
      description: reject(authmod, `?reason=authfailed${opaqueTail(authmod, opaque)}`),
    };
  }

  #sweep(now: number): void {
    for (const [k, e] of this.#pending) {
      if (e.expiresAt > now) break;
      this.#pending.delete(k);
    }
  }
}

function reject(authmod: AuthMod, tail: string): string {
  return `[ AccessManager.Reject ] : [ authmod=${authmod} ] : ${tail}`;
}

// FMS-style Adobe rejections end with the opaque; Limelight ones carry none.
function opaqueTail(authmod: AuthMod, opaque: string): string {
  return authmod === "adobe" ? `&opaque=${opaque}` : "";
}

/**
 * Appends an authentication query from {@linkcode AuthmodClient} to a connect `app` or `tcUrl`,
 * with `&` instead of `?` when it already has a query.
 *
 * @example
 * ```ts
 * import { withAuthQuery } from "./authmod.ts";
 * console.log(withAuthQuery("live", "?authmod=adobe&user=bob")); // live?authmod=adobe&user=bob
 * console.log(withAuthQuery("live?x=1", "?authmod=adobe&user=bob")); // live?x=1&authmod=adobe&user=bob
 * console.log(withAuthQuery("live", "")); // live
 * ```
 *
 * @param appOrTcUrl The `app` or `tcUrl` without authentication parameters.
 * @param query The query from {@linkcode AuthmodClientStep} (`""` for none).
 * @returns The string to send.
 */
export function withAuthQuery(appOrTcUrl: string, query: string): string {
  if (query === "") return appOrTcUrl;
  return appOrTcUrl.includes("?") ? appOrTcUrl + "&" + query.slice(1) : appOrTcUrl + query;
}

/**
 * Options of {@linkcode AuthmodClient}.
 *
 * @example
 * ```ts
 * import type { AuthmodClientOptions } from "./authmod.ts";
 * const o: AuthmodClientOptions = {
 *   user: "bob", password: "pw", app: "live", random: (n) => crypto.getRandomValues(new Uint8Array(n)),
 * };
 * console.log(o.app);
 * ```
 */
export interface AuthmodClientOptions {
  /** User name (not percent-encoded; it is encoded for the query). Absent: no credentials. */
  user?: string;
  /** Password. Never appears in any message or error. */
  password?: string;
  /** Application without query, as sent in `connect` (Limelight hashes it). */
  app: string;
  /** Random bytes for the client challenge / cnonce. */
  random: RandomBytes;
}

/**
 * What to do after a `connect` was rejected.
 *
 * - `retry` — reconnect with `query` appended to `app` and `tcUrl` ({@linkcode withAuthQuery}).
 * - `failed` — stop; `error` is an {@linkcode RtmpError} `REJECTED` saying why, without the
 *   password.
 * - `unrelated` — the rejection is not about `authmod`; report it as it is.
 *
 * @example
 * ```ts
 * import type { AuthmodClientStep } from "./authmod.ts";
 * const s: AuthmodClientStep = { kind: "retry", authmod: "adobe", query: "?authmod=adobe&user=bob" };
 * console.log(s.kind);
 * ```
 */
export type AuthmodClientStep =
  | { kind: "retry"; authmod: AuthMod; query: string }
  | { kind: "failed"; error: RtmpError }
  | { kind: "unrelated" };

/**
 * The client side of `authmod=adobe` / `authmod=llnw`: feed it each `connect` rejection's
 * `description`; it answers with the query for the next connection, or a final error. One
 * instance per connect sequence; it gives up after one wrong answer, as FFmpeg does.
 *
 * @example
 * ```ts
 * import { AuthmodClient } from "./authmod.ts";
 * const client = new AuthmodClient({
 *   user: "bob", password: "pw", app: "live", random: () => new Uint8Array([1, 2, 3, 4]),
 * });
 * const s1 = client.onConnectRejected("[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ");
 * console.log(s1.kind === "retry" && s1.query); // ?authmod=adobe&user=bob
 * const s2 = client.onConnectRejected(
 *   "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=bob&salt=s&challenge=c&opaque=o",
 * );
 * console.log(s2.kind === "retry" && s2.query.startsWith("?authmod=adobe&user=bob&challenge=01020304&response=")); // true
 * ```
 */
export class AuthmodClient {
  readonly #user: string | undefined;
  readonly #password: string | undefined;
  readonly #app: string;
  readonly #random: RandomBytes;
  #stage: 0 | 1 | 2 = 0;

  /**
   * Creates a client for one connect sequence.
   *
   * @param options Credentials, application and randomness.
   */
  constructor(options: AuthmodClientOptions) {
    this.#user = options.user;
    this.#password = options.password;
    this.#app = options.app.split("?")[0];
    this.#random = options.random;
  }

  /**
   * Decides the next step after `connect` was answered with `_error`.
   *
   * @param description The `description` of the `_error` information object.
   * @returns Retry with a query, fail, or not an authentication matter.
   */
  onConnectRejected(description: string): AuthmodClientStep {
    // Same order of checks as FFmpeg's handle_connect_error.
    const authmod: AuthMod | undefined = description.includes("authmod=adobe")
      ? "adobe"
      : description.includes("authmod=llnw")
      ? "llnw"
      : undefined;
    if (authmod === undefined) return { kind: "unrelated" };
    const user = this.#user ?? "";
    const password = this.#password ?? "";
    if (user === "" || password === "") {
      return fail(
        `the server requires authentication (authmod=${authmod}) but no user name and password were given`,
        description,
      );
    }
    if (description.includes("?reason=authfail")) {
      return fail(
        `authentication failed: the server rejected the user name or password for user "${user}" (authmod=${authmod})`,
        description,
      );
    }
    if (description.includes("?reason=nosuchuser")) {
      return fail(
        `authentication failed: the server does not know user "${user}" (authmod=${authmod})`,
        description,
      );
    }
    if (this.#stage === 2) {
      return fail(
        `authentication failed: the server did not accept our response for user "${user}" (authmod=${authmod})`,
        description,
      );
    }
    const encodedUser = encodeURIComponent(user);
    if (description.includes("code=403 need auth")) {
      if (this.#stage !== 0) {
        return fail(
          `authentication failed: the server asked for credentials again for user "${user}" (authmod=${authmod})`,
          description,
        );
      }
      this.#stage = 1;
      return { kind: "retry", authmod, query: `?authmod=${authmod}&user=${encodedUser}` };
    }
    const at = description.indexOf("?reason=needauth");
    if (at < 0) {
      return fail(
        `the server rejected the connection with an authmod=${authmod} reply we do not understand`,
        description,
      );
    }
    // key=value pairs up to the end of the description (FFmpeg and librtmp read it that way).
    const params = new Map<string, string>();
    for (const piece of description.slice(at + 1).split("&")) {
      const eq = piece.indexOf("=");
      if (eq < 0) continue;
      const k = piece.slice(0, eq);
      if (!params.has(k)) params.set(k, piece.slice(eq + 1));
    }
    // Hash the user as the server echoed it; a server that echoes none gets ours.
    const echoed = params.get("user") || encodedUser;
    this.#stage = 2;
    if (authmod === "adobe") {
      const clientChallenge = hex(this.#randomBytes(4));
      const opaque = params.get("opaque");
      const response = adobeResponse({
        user: echoed,
        password,
        salt: params.get("salt") ?? "",
        ...(opaque !== undefined ? { opaque } : {}),
        ...(params.has("challenge") ? { challenge: params.get("challenge") } : {}),
        clientChallenge,
      });
      let query = `?authmod=adobe&user=${echoed}&challenge=${clientChallenge}&response=${response}`;
      if (opaque !== undefined) query += `&opaque=${opaque}`;
      return { kind: "retry", authmod, query };
    }
    const nonce = params.get("nonce");
    if (nonce === undefined) {
      return fail(
        "the server's authmod=llnw challenge has no nonce",
        description,
      );
    }
    const cnonce = hex(this.#randomBytes(4));
    const response = llnwResponse({
      user: echoed,
      password,
      app: this.#app,
      nonce,
      cnonce,
      nc: LLNW_NC,
    });
    return {
      kind: "retry",
      authmod,
      query:
        `?authmod=llnw&user=${echoed}&nonce=${nonce}&cnonce=${cnonce}&nc=${LLNW_NC}&response=${response}`,
    };
  }

  #randomBytes(n: number): Uint8Array {
    const b = this.#random(n);
    if (!(b instanceof Uint8Array) || b.length !== n) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `random(${n}) must return a Uint8Array of ${n} bytes, got ${describe(b)}`,
      );
    }
    return b;
  }
}

function fail(message: string, description: string): AuthmodClientStep {
  return {
    kind: "failed",
    error: new RtmpError("REJECTED", message, { status: AUTH_REJECTED_CODE, description }),
  };
}
