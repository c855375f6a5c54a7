/**
 * The IO shared by the publishing and the playing client: dialing `rtmp://` / `rtmps://`,
 * running a {@linkcode ClientSession} over the socket until its stream started, Adobe /
 * Limelight `authmod` (each step on a new TCP connection, as FFmpeg does), deadlines and
 * abort signals, and reconnect back-off.
 *
 * @module
 */

import { isRtmpError, RtmpError } from "../errors.ts";
import { AuthmodClient, type RandomBytes, withAuthQuery } from "../protocol/authmod.ts";
import type { ConnectParams } from "../protocol/command.ts";
import type { StatusObject } from "../protocol/status.ts";
import type { RtmpUrl } from "../protocol/url.ts";
import type { ClientSession, ClientSessionEvent } from "../session/client_session.ts";
import { defaultAdapter } from "../socket/mod.ts";
import type { Conn, SocketAdapter, TlsConnectOptions } from "../socket/types.ts";
import { OutputPump } from "../util/output_pump.ts";

/**
 * User name and password for servers that ask for `authmod=adobe` or `authmod=llnw`.
 *
 * @example
 * ```ts
 * import type { Credentials } from "./connection.ts";
 * const c: Credentials = { user: "obs", password: "s3cret" };
 * ```
 */
export interface Credentials {
  /** User name. */
  user: string;
  /** Password; it never appears in an error message or log line of this library. */
  password: string;
}

/**
 * Automatic reconnection: how often and how fast.
 *
 * @example
 * ```ts
 * import type { ReconnectOptions } from "./connection.ts";
 * const r: ReconnectOptions = { maxAttempts: 10, initialDelay: 250, maxDelay: 8000 };
 * ```
 */
export interface ReconnectOptions {
  /** Consecutive failed attempts before giving up. Default 5. */
  maxAttempts?: number;
  /** Milliseconds before the first retry after a lost connection. Default 500. */
  initialDelay?: number;
  /** Longest wait between attempts, in milliseconds. Default 10 000. */
  maxDelay?: number;
}

/**
 * Options of {@linkcode openLink}.
 *
 * @example
 * ```ts
 * import type { DialOptions } from "./connection.ts";
 * const o: DialOptions = { timeout: 5000, started: "playing" };
 * ```
 */
export interface DialOptions {
  /** Milliseconds for everything up to the stream start, authentication steps included. */
  timeout: number;
  /** The session event that ends establishing. */
  started: "publishing" | "playing";
  /** Aborts establishing. */
  signal?: AbortSignal;
  /** TLS settings for `rtmps://`. */
  tls?: TlsConnectOptions;
  /** Socket adapter; default: the current runtime's. */
  adapter?: SocketAdapter;
  /** Credentials for `authmod`; default: those of the URL. */
  credentials?: Credentials;
  /** Random bytes for the authmod client challenge. Default: `crypto.getRandomValues`. */
  random?: RandomBytes;
}

/**
 * One open connection: socket, session and the ordered writer between them.
 *
 * @example
 * ```ts
 * import type { ClientLink } from "./connection.ts";
 * async function drain(link: ClientLink): Promise<number> {
 *   let n = 0;
 *   for (let evs = await link.read(); evs !== null; evs = await link.read()) n += evs.length;
 *   return n;
 * }
 * ```
 */
export class ClientLink {
  /** The socket. */
  readonly conn: Conn;
  /** The session state machine. */
  readonly session: ClientSession;
  /** The URL this link was opened to. */
  readonly url: RtmpUrl;
  readonly #pump: OutputPump;

  /**
   * @param conn An open socket.
   * @param session A fresh session (its handshake bytes are queued).
   * @param url What the socket is connected to.
   */
  constructor(conn: Conn, session: ClientSession, url: RtmpUrl) {
    this.conn = conn;
    this.session = session;
    this.url = url;
    this.#pump = new OutputPump(conn, session);
  }

  /** Writes everything the session queued. @returns Resolves when the OS took the bytes. */
  flush(): Promise<void> {
    return this.#pump.flush();
  }

  /**
   * Reads once, feeds the session and writes what it answered (acks, pongs, next commands).
   *
   * @returns The events, or `null` at the server's FIN.
   */
  async read(): Promise<ClientSessionEvent[] | null> {
    const chunk = await this.conn.read();
    if (chunk === null) return null;
    const events = this.session.receive(chunk);
    if (this.session.pendingOutput > 0) await this.#pump.flush();
    return events;
  }

  /**
   * Ends the stream (`FCUnpublish` + `deleteStream`, or `closeStream` + `deleteStream`), writes
   * it and sends FIN. Never throws: a link that is gone has nothing more to deliver.
   *
   * @returns Resolves once the FIN is sent (or the socket is known dead).
   */
  async endGracefully(): Promise<void> {
    try {
      this.session.end();
      await this.#pump.flush();
      await this.conn.closeWrite();
    } catch {
      // Already gone.
    }
  }

  /**
   * Closes the socket after `ms` unless it closed before (the timer does not outlive it).
   *
   * @param ms Milliseconds to wait for the server's FIN.
   */
  closeWithin(ms: number): void {
    const timer = setTimeout(() => this.conn.close(), ms);
    void this.conn.closed.then(() => clearTimeout(timer));
  }

  /**
   * For a link nobody reads any more: ends it gracefully, then reads and discards until the
   * server closes (or `lingerMs` passed), so unread bytes do not turn our close into a reset
   * that could lose the last commands.
   *
   * @param lingerMs Longest wait for the server's FIN.
   * @returns Resolves once the socket is closed.
   */
  async retire(lingerMs = 2000): Promise<void> {
    await this.endGracefully();
    const timer = setTimeout(() => this.conn.close(), lingerMs);
    try {
      while ((await this.conn.read()) !== null) { /* discard */ }
    } catch {
      // Reset or closed by the timer.
    } finally {
      clearTimeout(timer);
      this.conn.close();
    }
  }
}

/** What {@linkcode openLink} returns: the link and every event seen while establishing. */
export interface Established {
  /** The open link, its stream started. */
  link: ClientLink;
  /** Events in arrival order, the start event included (media may follow it). */
  events: ClientSessionEvent[];
}

/**
 * A rejection while establishing (an `_error`, an error-level `onStatus`), as `RtmpError`
 * `REJECTED` with the server's `status` and `description`.
 *
 * @example
 * ```ts
 * import { rejectionError } from "./connection.ts";
 * const e = rejectionError("play", { level: "error", code: "NetStream.Play.StreamNotFound", description: "no such stream", raw: {} });
 * console.log(e.code, e.status); // REJECTED NetStream.Play.StreamNotFound
 * ```
 *
 * @param stage Which step was refused.
 * @param status What the server said.
 * @returns The error.
 */
export function rejectionError(stage: string, status: StatusObject): RtmpError {
  const text = status.description ? `: ${status.description}` : "";
  return new RtmpError("REJECTED", `${stage} rejected by the server with ${status.code}${text}`, {
    status: status.code,
    description: status.description,
  });
}

/** A connect rejection, kept apart so the authmod loop can read its description. */
class ConnectRejected extends Error {
  readonly status: StatusObject;
  constructor(status: StatusObject) {
    super(status.description);
    this.status = status;
  }
}

/** Authentication steps at most: need-user, challenge, response, plus one spare. */
const MAX_AUTH_CONNECTIONS = 4;

const defaultRandom: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/**
 * Dials the URL and runs sessions made by `makeSession` until the stream started, answering
 * `authmod` challenges on fresh connections. Rejections become `REJECTED` (with the server's
 * code and description, never the password); a deadline `TIMEOUT`; the signal `ABORTED`.
 *
 * @example
 * ```ts ignore
 * import { openLink } from "./connection.ts";
 * import { ClientSession } from "../session/client_session.ts";
 * import { parseRtmpUrl } from "../protocol/url.ts";
 * const url = parseRtmpUrl("rtmp://127.0.0.1/live/cam");
 * const { link, events } = await openLink(url, (connect) =>
 *   new ClientSession({ role: "play", connect, streamName: url.streamName }), {
 *   timeout: 5000,
 *   started: "playing",
 * });
 * console.log(events.length, link.session.playing);
 * ```
 *
 * @param url Where to connect.
 * @param makeSession Builds the session for a connect with this `app` / `tcUrl` (they carry
 * the authentication query on later steps).
 * @param options Deadline, what counts as started, TLS, credentials.
 * @returns The established link and the events seen so far.
 */
export async function openLink(
  url: RtmpUrl,
  makeSession: (connect: Pick<ConnectParams, "app" | "tcUrl">) => ClientSession,
  options: DialOptions,
): Promise<Established> {
  const { timeout } = options;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeout);
  const outer = options.signal;
  const onOuterAbort = (): void => deadline.abort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  const what = options.started === "playing" ? "NetStream.Play.Start" : "NetStream.Publish.Start";
  const fail = (): RtmpError =>
    outer?.aborted
      ? new RtmpError("ABORTED", `connecting to ${url.hostname}:${url.port} was aborted`)
      : new RtmpError(
        "TIMEOUT",
        `no ${what} from ${url.hostname}:${url.port} within ${timeout} ms`,
      );
  const credentials = options.credentials ??
    (url.username !== undefined ? { user: url.username, password: url.password ?? "" } : null);
  const auth = new AuthmodClient({
    user: credentials?.user,
    password: credentials?.password,
    app: url.app,
    random: options.random ?? defaultRandom,
  });
  try {
    let query = "";
    for (let step = 0;; step++) {
      if (outer?.aborted) throw fail();
      const connect = {
        app: withAuthQuery(url.app, query),
        tcUrl: withAuthQuery(url.tcUrl, query),
      };
      try {
        return await attempt(url, makeSession(connect), options, deadline.signal, what);
      } catch (e) {
        if (
          deadline.signal.aborted && !isRtmpError(e, "REJECTED") && !(e instanceof ConnectRejected)
        ) {
          throw fail();
        }
        if (!(e instanceof ConnectRejected)) throw e;
        const next = auth.onConnectRejected(e.status.description);
        if (next.kind === "failed") throw next.error;
        if (next.kind === "unrelated" || step + 1 >= MAX_AUTH_CONNECTIONS) {
          throw rejectionError("connect", e.status);
        }
        query = next.query;
      }
    }
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}

async function attempt(
  url: RtmpUrl,
  session: ClientSession,
  options: DialOptions,
  signal: AbortSignal,
  what: string,
): Promise<Established> {
  const adapter = options.adapter ?? await defaultAdapter();
  const conn = await adapter.connect({
    hostname: url.hostname,
    port: url.port,
    tls: url.secure ? { serverName: url.hostname, ...options.tls } : undefined,
    signal,
    timeout: options.timeout,
  });
  const onAbort = (): void => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  const link = new ClientLink(conn, session, url);
  const events: ClientSessionEvent[] = [];
  try {
    await link.flush();
    while (true) {
      const batch = await link.read();
      if (batch === null) {
        throw new RtmpError(
          "CONNECTION_CLOSED",
          `${url.hostname}:${url.port} closed the connection before ${what}`,
        );
      }
      let started = false;
      for (const ev of batch) {
        if (ev.type === "rejected") {
          if (ev.stage === "connect") throw new ConnectRejected(ev.status);
          throw rejectionError(ev.stage, ev.status);
        }
        if (ev.type === options.started) started = true;
        events.push(ev);
      }
      if (started) return { link, events };
    }
  } catch (e) {
    conn.close();
    throw e;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Reconnect settings with defaults filled in, or `null` when reconnecting is off.
 *
 * @example
 * ```ts
 * import { reconnectPolicy } from "./connection.ts";
 * console.log(reconnectPolicy(true)); // { maxAttempts: 5, initialDelay: 500, maxDelay: 10000 }
 * console.log(reconnectPolicy(undefined)); // null
 * ```
 *
 * @param option The caller's `reconnect` option.
 * @returns The policy.
 * @throws {RtmpError} `INVALID_ARGUMENT` for a non-positive or non-finite setting.
 */
export function reconnectPolicy(
  option: boolean | ReconnectOptions | undefined,
): Required<ReconnectOptions> | null {
  if (option === undefined || option === false) return null;
  const o = option === true ? {} : option;
  const policy = {
    maxAttempts: o.maxAttempts ?? 5,
    initialDelay: o.initialDelay ?? 500,
    maxDelay: o.maxDelay ?? 10_000,
  };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `reconnect.maxAttempts: expected an integer >= 1, got ${policy.maxAttempts}`,
    );
  }
  for (const k of ["initialDelay", "maxDelay"] as const) {
    if (!Number.isFinite(policy[k]) || policy[k] < 0) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `reconnect.${k}: expected a non-negative number of milliseconds, got ${policy[k]}`,
      );
    }
  }
  return policy;
}

/**
 * The wait before reconnect attempt `attempt` (1-based): exponential back-off from
 * `initialDelay`, capped at `maxDelay`, with "equal jitter" (half fixed, half random) so a
 * fleet of clients cut off at once does not come back in lockstep.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./connection.ts";
 * const p = { maxAttempts: 5, initialDelay: 500, maxDelay: 10_000 };
 * console.log(backoffDelay(p, 1, () => 0), backoffDelay(p, 3, () => 1)); // 250 2000
 * ```
 *
 * @param policy The reconnect settings.
 * @param attempt Attempt number, from 1.
 * @param random A number in [0, 1); default `Math.random`.
 * @returns Milliseconds to wait.
 */
export function backoffDelay(
  policy: Required<ReconnectOptions>,
  attempt: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxDelay, policy.initialDelay * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + random() * base / 2);
}

/**
 * Waits `ms`, or until the signal aborts.
 *
 * @example
 * ```ts
 * import { sleep } from "./connection.ts";
 * await sleep(1);
 * ```
 *
 * @param ms Milliseconds.
 * @param signal Ends the wait early.
 * @returns Resolves when the time is up or the signal fired.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
