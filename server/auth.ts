/**
 * The server's side of `authmod` login (`auth` option): runs the sans-IO
 * {@linkcode AuthmodServer} for each `connect`, looks the password up through the connection's
 * hook runner (timeout, abort), bounds attempts per address, logs every failure without the
 * password or the response, and hands the connection the authenticated user name with the
 * connect request cleaned of its authentication parameters.
 *
 * One login takes three connections (protocol/authmod.ts explains the exchange); each one
 * carries exactly one `connect`, since a refused connect closes its connection, so the bound
 * per connection is one attempt by construction and the bounds that matter are per address.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import {
  AUTH_REJECTED_CODE,
  AuthmodServer,
  type RandomBytes,
  stripAuthParams,
} from "../protocol/authmod.ts";
import type { ConnectRequest } from "../session/server_session.ts";
import type { NetAddress } from "../socket/types.ts";
import type { Decision } from "./decide.ts";
import type {
  AuthLookupInfo,
  AuthMethod,
  HookDecision,
  PublishInfo,
  ServerAuthOptions,
} from "./types.ts";

/**
 * What {@linkcode ConnectAuth.check} needs from the connection.
 *
 * @example
 * ```ts
 * import type { AuthCheckContext } from "./auth.ts";
 * import { decide } from "./decide.ts";
 * const ctx: AuthCheckContext = {
 *   label: "rtmp 127.0.0.1:50000",
 *   remoteAddr: { hostname: "127.0.0.1", port: 50000 },
 *   tls: false,
 *   decide: (run) => decide("connect", run, 10_000, new AbortController().signal),
 * };
 * console.log(ctx.label);
 * ```
 */
export interface AuthCheckContext {
  /** The connection's label for log lines. */
  label: string;
  /** The client's address; failures are counted per `hostname`. */
  remoteAddr: NetAddress;
  /** Whether the connection is RTMPS. */
  tls: boolean;
  /** Runs a hook under the connection's timeout and abort signal (its `#decide("connect")`). */
  decide(run: (signal: AbortSignal) => HookDecision | Promise<HookDecision>): Promise<Decision>;
}

/**
 * The outcome of {@linkcode ConnectAuth.check}: go on with the connect (`user` is `null` for
 * an anonymous player), or refuse it with `_error` `code` / `description`.
 *
 * @example
 * ```ts
 * import type { AuthVerdict } from "./auth.ts";
 * const v: AuthVerdict = { accept: true, user: "studio" };
 * console.log(v.accept ? v.user : v.description); // studio
 * ```
 */
export type AuthVerdict =
  | { accept: true; user: string | null }
  | { accept: false; code: string; description: string };

/**
 * Clock, randomness and log of a {@linkcode ConnectAuth}.
 *
 * @example
 * ```ts
 * import type { ConnectAuthDeps } from "./auth.ts";
 * const deps: ConnectAuthDeps = { log: (line) => console.error(line) };
 * console.log(typeof deps.log);
 * ```
 */
export interface ConnectAuthDeps {
  /** Receives one line per step and per failure. */
  log: (line: string) => void;
  /** Current time in milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Random bytes for salts and challenges. Default `crypto.getRandomValues`. */
  random?: RandomBytes;
}

/** What a client is told while its address is refused (no `authmod=`: FFmpeg does not retry). */
const BLOCKED_DESCRIPTION = "Too many failed logins from this address; try again later.";

/** What a publisher that did not log in is told. */
const LOGIN_REQUIRED_DESCRIPTION =
  "This server needs a user name and password to publish: use rtmp://USER:PASSWORD@HOST/APP/KEY.";

/** Addresses whose attempts are tracked at once; the least recently seen is forgotten. */
const MAX_TRACKED_ADDRESSES = 4096;

/** Longest user name quoted in a log line. */
const MAX_LOGGED_USER = 64;

/**
 * Logins of one server: the challenges it issued, the attempt bounds per address and the
 * password lookup. Keep one per server (each step of a login arrives on a new connection).
 *
 * @example
 * ```ts
 * import { ConnectAuth } from "./auth.ts";
 * const auth = new ConnectAuth({ lookup: (u) => (u === "studio" ? "pw" : null) }, {
 *   log: () => {},
 * });
 * console.log(auth.methods); // [ "adobe", "llnw" ]
 * ```
 */
export class ConnectAuth {
  readonly #lookup: ServerAuthOptions["lookup"];
  readonly #methods: readonly AuthMethod[];
  readonly #anonymousPlayers: boolean;
  readonly #server: AuthmodServer;
  readonly #failures: AddressWindow;
  readonly #challenges: AddressWindow;
  readonly #log: (line: string) => void;
  readonly #now: () => number;
  readonly #random: RandomBytes;

  /**
   * Checks the options and starts with no challenge issued and no failure counted.
   *
   * @param options The server's `auth` option.
   * @param deps Log, and (for tests) clock and randomness.
   */
  constructor(options: ServerAuthOptions, deps: ConnectAuthDeps) {
    if (typeof options?.lookup !== "function") {
      throw new RtmpError("INVALID_ARGUMENT", `auth.lookup must be a function`);
    }
    const methods = options.methods ?? ["adobe", "llnw"];
    if (
      !Array.isArray(methods) || methods.length === 0 ||
      methods.some((m) => m !== "adobe" && m !== "llnw")
    ) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `auth.methods must list "adobe" and/or "llnw", got ${JSON.stringify(methods)}`,
      );
    }
    const window = positive(options.window, 60_000, "auth.window");
    this.#lookup = options.lookup;
    this.#methods = [...new Set(methods)];
    this.#anonymousPlayers = options.anonymousPlayers ?? false;
    this.#server = new AuthmodServer({
      mods: this.#methods,
      challengeTtl: positive(options.challengeTtl, 60_000, "auth.challengeTtl"),
    });
    this.#failures = new AddressWindow(
      positiveInt(options.maxFailures, 10, "auth.maxFailures"),
      window,
    );
    this.#challenges = new AddressWindow(
      positiveInt(options.maxChallenges, 60, "auth.maxChallenges"),
      window,
    );
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#random = deps.random ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
  }

  /** The schemes accepted, the offered one first. */
  get methods(): readonly AuthMethod[] {
    return this.#methods;
  }

  /**
   * Decides one `connect`. On acceptance the request's `app` and `tcUrl` (and the same fields
   * of `raw`) are rewritten in place without the authentication parameters: the session keeps
   * this object, so the connect, publish and play hooks and the logs see the clean
   * application, and no hook can log the response by accident.
   *
   * @param request The parsed connect request.
   * @param ctx The connection's label, address and hook runner.
   * @returns Accept (with the user name, `null` for an anonymous player) or refuse.
   */
  async check(request: ConnectRequest, ctx: AuthCheckContext): Promise<AuthVerdict> {
    const ip = ctx.remoteAddr.hostname;
    const app = stripAuthParams(request.app);
    if (app.auth === undefined && this.#anonymousPlayers && request.type !== "nonprivate") {
      return { accept: true, user: null };
    }
    const now = this.#now();
    const where = `${ctx.label}: auth`;
    if (this.#failures.full(ip, now)) {
      return this.#blocked(ip, `${this.#failures.max} failed logins`, where);
    }
    const wantsChallenge = app.auth !== undefined && app.auth.response === undefined;
    if (wantsChallenge && this.#challenges.full(ip, now)) {
      return this.#blocked(ip, `${this.#challenges.max} challenges`, where);
    }
    const random = this.#random;
    let outcome = this.#server.authenticate(request.app, { now, random });
    if (outcome.kind === "need_password") {
      const { user, authmod } = outcome;
      const info: Omit<AuthLookupInfo, "signal"> = {
        method: authmod,
        tcUrl: stripAuthParams(request.tcUrl ?? "").clean,
        connect: request,
        remoteAddr: ctx.remoteAddr,
        tls: ctx.tls,
      };
      let password: string | null = null;
      const lookup = this.#lookup;
      const decision = await ctx.decide(async (signal) => {
        const found = await lookup(user, app.clean, { ...info, signal });
        if (found !== null && typeof found !== "string") {
          throw new RtmpError(
            "INVALID_ARGUMENT",
            `auth.lookup must return a string or null, got ${typeof found}`,
          );
        }
        password = found;
        return true;
      });
      if (!decision.accept) {
        // The server's problem, not the client's: not counted against the address.
        this.#log(`${where}: password lookup for user ${quote(user)} failed: ${decision.reason}`);
        return {
          accept: false,
          code: decision.code ?? "NetConnection.Connect.Failed",
          description: decision.description,
        };
      }
      outcome = this.#server.authenticate(request.app, { now: this.#now(), random, password });
    }
    switch (outcome.kind) {
      case "accepted":
        clean(request, outcome.app);
        this.#log(`${where}: user ${quote(outcome.user)} logged in (authmod=${outcome.authmod})`);
        return { accept: true, user: outcome.user };
      case "challenge":
        if (outcome.step === "need_response") this.#challenges.add(ip, now);
        this.#log(
          outcome.step === "need_user"
            ? `${where}: asking for a user name (authmod=${outcome.authmod})`
            : `${where}: challenge sent to user ${
              quote(outcome.user ?? "")
            } (authmod=${outcome.authmod})`,
        );
        return { accept: false, code: AUTH_REJECTED_CODE, description: outcome.description };
      case "failed": {
        const n = this.#failures.add(ip, this.#now());
        const max = this.#failures.max;
        const tail = n >= max
          ? `; ${ip} is refused for up to ${seconds(this.#failures.window)}`
          : "";
        this.#log(
          `${where}: login failed (${outcome.reason}${
            outcome.authmod ? `, authmod=${outcome.authmod}` : ""
          }) for user ${quote(outcome.user ?? "")}: failure ${n} of ${max} from ${ip} within ${
            seconds(this.#failures.window)
          }${tail}`,
        );
        return { accept: false, code: AUTH_REJECTED_CODE, description: outcome.description };
      }
      case "need_password":
        // authenticate() asks for the password only when none was given, and one was.
        this.#log(`${where}: authmod asked for a password twice; refusing`);
        return {
          accept: false,
          code: "NetConnection.Connect.Failed",
          description: "The server could not check this connection; try again later.",
        };
    }
  }

  /**
   * Wraps the `onPublish` hook so that a connection that did not log in cannot publish (with
   * `anonymousPlayers`, one that did not look like a publisher).
   *
   * @param hook The application's `onPublish`, if any.
   * @returns The hook to install.
   */
  guardPublish(
    hook:
      | ((info: PublishInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>)
      | undefined,
  ): (info: PublishInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision> {
    return (info, signal) => {
      if (info.user === null) {
        return {
          accept: false,
          reason: "publish from a connection that did not log in",
          description: LOGIN_REQUIRED_DESCRIPTION,
          code: "NetStream.Publish.Denied",
        };
      }
      return hook ? hook(info, signal) : true;
    };
  }

  #blocked(ip: string, what: string, where: string): AuthVerdict {
    const n = this.#failures.refused(ip) + this.#challenges.refused(ip);
    // One line per power of ten: a flood is visible without flooding the log.
    if (isPowerOfTen(n)) {
      this.#log(
        `${where}: refused ${ip} without checking: ${what} within ${
          seconds(this.#failures.window)
        } (${n} refused so far)`,
      );
    }
    return { accept: false, code: AUTH_REJECTED_CODE, description: BLOCKED_DESCRIPTION };
  }
}

/** Counts events per address in a sliding window, bounded in addresses and in events each. */
class AddressWindow {
  readonly max: number;
  readonly window: number;
  readonly #entries = new Map<string, { times: number[]; refused: number }>();

  constructor(max: number, window: number) {
    this.max = max;
    this.window = window;
  }

  /** Whether `ip` already has `max` events within the window. */
  full(ip: string, now: number): boolean {
    const e = this.#entries.get(ip);
    if (!e) return false;
    this.#prune(e.times, now);
    if (e.times.length >= this.max) return true;
    if (e.times.length === 0) this.#entries.delete(ip);
    else e.refused = 0;
    return false;
  }

  /** Counts one refusal of a full address; returns how many since it became full. */
  refused(ip: string): number {
    const e = this.#entries.get(ip);
    if (!e || e.times.length < this.max) return 0;
    return ++e.refused;
  }

  /** Records an event; returns the count within the window. */
  add(ip: string, now: number): number {
    let e = this.#entries.get(ip);
    if (e) {
      this.#entries.delete(ip);
    } else {
      e = { times: [], refused: 0 };
      if (this.#entries.size >= MAX_TRACKED_ADDRESSES) {
        this.#entries.delete(this.#entries.keys().next().value as string);
      }
    }
    // Least recently seen first: re-inserted on every event.
    this.#entries.set(ip, e);
    this.#prune(e.times, now);
    e.times.push(now);
    if (e.times.length > this.max) e.times.shift();
    return e.times.length;
  }

  #prune(times: number[], now: number): void {
    while (times.length > 0 && times[0] <= now - this.window) times.shift();
  }
}

/** Rewrites the connect request without its authentication parameters. */
function clean(request: ConnectRequest, app: string): void {
  request.app = app;
  if (request.tcUrl !== undefined) request.tcUrl = stripAuthParams(request.tcUrl).clean;
  const raw = request.raw;
  if (typeof raw.app === "string") raw.app = app;
  if (typeof raw.tcUrl === "string") raw.tcUrl = stripAuthParams(raw.tcUrl).clean;
}

/** A client-chosen name for a log line: quoted, escaped, bounded. */
function quote(user: string): string {
  const cut = user.length > MAX_LOGGED_USER ? `${user.slice(0, MAX_LOGGED_USER)}…` : user;
  return JSON.stringify(cut);
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function isPowerOfTen(n: number): boolean {
  while (n >= 10 && n % 10 === 0) n /= 10;
  return n === 1;
}

function positive(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new RtmpError("INVALID_ARGUMENT", `${name} must be a positive number, got ${v}`);
  }
  return v;
}

function positiveInt(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new RtmpError("INVALID_ARGUMENT", `${name} must be an integer >= 1, got ${v}`);
  }
  return v;
}
