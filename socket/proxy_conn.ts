/**
 * Reading the PROXY protocol header of an accepted connection, with the trust and deadline rules
 * of {@linkcode ProxyProtocolOptions}, and the connection that results: its `remoteAddr` is the
 * real client, and its first `read()` returns the bytes that followed the header.
 *
 * The adapters use this for `listen({ proxyProtocol })`: plain listeners are wrapped by
 * {@linkcode proxyListen}; TLS listeners read the header from the raw TCP socket with
 * {@linkcode readProxyHeader} and only then start TLS on it (see `node.ts`).
 *
 * @example Accept one proxied connection by hand
 * ```ts
 * import { acceptProxyHeader } from "./proxy_conn.ts";
 * import { listen } from "./mod.ts";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * listener.accept().then(async (conn) => {
 *   if (conn === null) return;
 *   const proxied = await acceptProxyHeader(conn, { timeout: 3000 });
 *   console.log(proxied.remoteAddr); // the client named by the header
 *   proxied.close();
 * });
 * listener.close();
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { copyBytes } from "../protocol/bytes.ts";
import { type TrustedSources, trustedSources } from "../socket/trusted.ts";
import {
  detectProxyHeader,
  type ProxyHeader,
  ProxyHeaderParser,
} from "../protocol/proxy_protocol.ts";
import { QueuedListener } from "./accept_queue.ts";
import type { Conn, Listener, ListenOptions, NetAddress, ProxyProtocolOptions } from "./types.ts";
import { sendPieces } from "./gather.ts";

/** Default for {@linkcode ProxyProtocolOptions.timeout}. */
const DEFAULT_HEADER_TIMEOUT_MS = 5000;

/** §2.2: the v2 signature is 12 bytes, the longest prefix needed to tell a header from data. */
const DETECT_BYTES = 12;

/**
 * {@linkcode ProxyProtocolOptions} checked once, when the listener is created.
 *
 * @example
 * ```ts
 * import { proxyProtocolSettings } from "./proxy_conn.ts";
 * const settings = proxyProtocolSettings({ trusted: ["10.0.0.0/8"] });
 * console.log(settings.timeout, settings.required); // 5000 true
 * ```
 */
export interface ProxyProtocolSettings {
  /** Who may send a header. */
  trusted: TrustedSources;
  /** Header deadline in milliseconds. */
  timeout: number;
  /** Whether a header is mandatory. */
  required: boolean;
  /** Where rejections are reported. */
  onReject: ((error: RtmpError, peer: NetAddress) => void) | undefined;
}

/**
 * Validates {@linkcode ProxyProtocolOptions} and applies the defaults (loopback trusted, 5000 ms,
 * header required).
 *
 * @example
 * ```ts
 * import { proxyProtocolSettings } from "./proxy_conn.ts";
 * console.log(proxyProtocolSettings({}).trusted.has("127.0.0.1")); // true
 * ```
 *
 * @param options The listener's `proxyProtocol` option.
 * @returns The settings.
 * @throws {RtmpError} `INVALID_ARGUMENT` for a bad trusted entry, timeout or type.
 */
export function proxyProtocolSettings(
  options: ProxyProtocolOptions | ProxyProtocolSettings,
): ProxyProtocolSettings {
  if (typeof options !== "object" || options === null) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `proxyProtocol: expected an options object, got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  const trusted = options.trusted;
  const timeout = options.timeout ?? DEFAULT_HEADER_TIMEOUT_MS;
  if (typeof timeout !== "number" || !(timeout > 0) || timeout > 2_147_483_647) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `proxyProtocol: expected timeout in milliseconds in 1..2147483647, got ${String(timeout)}`,
    );
  }
  const required = options.required ?? true;
  if (typeof required !== "boolean") {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `proxyProtocol: expected required to be a boolean, got ${typeof required}`,
    );
  }
  if (options.onReject !== undefined && typeof options.onReject !== "function") {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `proxyProtocol: expected onReject to be a function, got ${typeof options.onReject}`,
    );
  }
  return {
    trusted: isMatcher(trusted) ? trusted : trustedSources(trusted),
    timeout,
    required,
    onReject: options.onReject,
  };
}

function isMatcher(value: unknown): value is TrustedSources {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    typeof (value as TrustedSources).has === "function";
}

/**
 * The byte source {@linkcode readProxyHeader} reads from: an accepted {@linkcode Conn}, or the
 * raw socket a TLS listener upgrades afterwards.
 *
 * @example
 * ```ts
 * import type { HeaderSource } from "./proxy_conn.ts";
 * const empty: HeaderSource = { read: () => Promise.resolve(null), close() {} };
 * ```
 */
export interface HeaderSource {
  /** The next chunk, `null` at end of stream (valid until the next call). */
  read(): Promise<Uint8Array | null>;
  /** Closes the connection; a pending `read()` must then settle. */
  close(): void;
}

/**
 * What {@linkcode readProxyHeader} found: the header (`null` when the connection legitimately
 * has none, see {@linkcode ProxyProtocolOptions.required}) and the bytes that came after it,
 * which the caller must deliver before anything read later.
 *
 * @example
 * ```ts
 * import type { ProxyHeaderResult } from "./proxy_conn.ts";
 * const r: ProxyHeaderResult = { header: null, remainder: new Uint8Array(0) };
 * ```
 */
export interface ProxyHeaderResult {
  /** The header, or `null`. */
  header: ProxyHeader | null;
  /** Bytes received after the header (may be empty). */
  remainder: Uint8Array;
}

function rejected(peer: NetAddress, why: string): RtmpError {
  return new RtmpError("REJECTED", `PROXY protocol: ${peer.hostname}:${peer.port} ${why}`);
}

function join(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Applies the PROXY protocol rules to one accepted connection: refuses an untrusted peer when a
 * header is required, reads the header within the deadline (one timer per connection), and
 * returns it with the bytes that followed. On any failure `source` is closed and the promise
 * rejects.
 *
 * @example
 * ```ts
 * import { proxyProtocolSettings, readProxyHeader } from "./proxy_conn.ts";
 * const bytes = new TextEncoder().encode("PROXY TCP4 192.0.2.1 192.0.2.2 5000 1935\r\nhi");
 * let sent = false;
 * const source = { read: () => Promise.resolve(sent ? null : (sent = true, bytes)), close() {} };
 * const peer = { hostname: "127.0.0.1", port: 40000 };
 * const { header, remainder } = await readProxyHeader(source, peer, proxyProtocolSettings({}));
 * console.log(header?.source, remainder.length); // { hostname: "192.0.2.1", port: 5000 } 2
 * ```
 *
 * @param source The connection's bytes.
 * @param peer The connection's real peer (the proxy, if one is in front).
 * @param settings From {@linkcode proxyProtocolSettings}.
 * @param signal Aborting closes the connection and rejects with `ABORTED`.
 * @returns The header (or `null`) and the remainder.
 * @throws {RtmpError} `REJECTED` (untrusted peer), `MALFORMED`/`LIMIT_EXCEEDED` (bad header),
 * `TIMEOUT`, `CONNECTION_CLOSED` (closed before a header), `ABORTED`, or the read's error.
 */
export async function readProxyHeader(
  source: HeaderSource,
  peer: NetAddress,
  settings: ProxyProtocolSettings,
  signal?: AbortSignal,
): Promise<ProxyHeaderResult> {
  const trusted = settings.trusted.has(peer.hostname);
  if (!trusted && settings.required) {
    source.close();
    throw rejected(
      peer,
      `is not a trusted proxy (trusted: ${settings.trusted.entries.join(", ") || "none"})`,
    );
  }
  let stop: RtmpError | null = null;
  const halt = (error: RtmpError): void => {
    if (stop !== null) return;
    stop = error;
    source.close();
  };
  const parser = new ProxyHeaderParser();
  /** Copies of what came before the kind of start was known (optional mode only). */
  const early: Uint8Array[] = [];
  let earlyLength = 0;
  let detected = settings.required;
  let received = 0;
  const onAbort = (): void => {
    halt(new RtmpError("ABORTED", "PROXY protocol: the listener closed while reading a header"));
  };
  const timer = setTimeout(() => {
    halt(
      new RtmpError(
        "TIMEOUT",
        `PROXY protocol: ${peer.hostname}:${peer.port} sent ${
          received === 0 ? "nothing" : `${received} bytes but no complete header`
        } within ${settings.timeout} ms`,
      ),
    );
  }, settings.timeout);
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        if (stop !== null) throw stop;
        chunk = await source.read();
      } catch (error) {
        throw stop ?? error;
      }
      if (stop !== null) throw stop;
      if (chunk === null) {
        if (!detected && earlyLength === 0) return { header: null, remainder: new Uint8Array(0) };
        if (!detected) return { header: null, remainder: join(early) };
        throw new RtmpError(
          received === 0 ? "CONNECTION_CLOSED" : "MALFORMED",
          received === 0
            ? `PROXY protocol: ${peer.hostname}:${peer.port} closed before sending a header`
            : `PROXY protocol: ${peer.hostname}:${peer.port} closed after ${received} bytes ` +
              "of an incomplete header",
        );
      }
      if (chunk.length === 0) continue;
      received += chunk.length;
      let input = chunk;
      if (!detected) {
        early.push(copyBytes(chunk)); // kept across reads: a real copy, not Buffer#slice
        earlyLength += chunk.length;
        const start = join(early);
        const kind = detectProxyHeader(start.subarray(0, DETECT_BYTES));
        if (kind === "incomplete") continue;
        if (kind === "none") return { header: null, remainder: start };
        if (!trusted) throw rejected(peer, "sent a PROXY header but is not a trusted proxy");
        detected = true;
        input = start;
      }
      const result = parser.push(input);
      if (result.done) return { header: result.header, remainder: result.remainder };
    }
  } catch (error) {
    source.close();
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * A connection whose PROXY header has been read: `remoteAddr` is the client the header names
 * (or the real peer for `LOCAL`, `UNKNOWN` and connections without a header), and the first
 * `read()` returns the bytes that followed the header. Everything else is the inner connection's.
 *
 * @example
 * ```ts
 * import { ProxiedConn } from "./proxy_conn.ts";
 * import type { Conn } from "./types.ts";
 * function wrap(conn: Conn): Conn {
 *   return new ProxiedConn(conn, null, new Uint8Array(0));
 * }
 * ```
 */
export class ProxiedConn implements Conn {
  /** The header, or `null` when the connection had none. */
  readonly proxyHeader: ProxyHeader | null;
  /** The address the connection really came from: the proxy when a header named a client. */
  readonly proxyAddr: NetAddress;
  readonly remoteAddr: NetAddress;
  #inner: Conn;
  #remainder: Uint8Array | null;

  /**
   * Wraps `inner`.
   *
   * @param inner The accepted connection, positioned after the header.
   * @param header The header read from it, or `null`.
   * @param remainder Bytes read past the header; returned by the first `read()`.
   */
  constructor(inner: Conn, header: ProxyHeader | null, remainder: Uint8Array) {
    this.#inner = inner;
    this.proxyHeader = header;
    this.proxyAddr = inner.remoteAddr;
    const source = header !== null && header.command === "PROXY" ? header.source : null;
    this.remoteAddr = source !== null
      ? { hostname: source.hostname, port: source.port }
      : inner.remoteAddr;
    this.#remainder = remainder.length > 0 ? remainder : null;
  }

  /** The local address of the inner connection. */
  get localAddr(): NetAddress {
    return this.#inner.localAddr;
  }

  /** Whether the inner connection runs TLS. */
  get tls(): boolean {
    return this.#inner.tls;
  }

  /** Settles once the inner connection is fully closed. */
  get closed(): Promise<void> {
    return this.#inner.closed;
  }

  /**
   * The bytes that followed the header first, then the inner connection's reads.
   *
   * @returns The next chunk, or `null` at end of stream.
   */
  read(): Promise<Uint8Array | null> {
    const remainder = this.#remainder;
    if (remainder !== null) {
      this.#remainder = null;
      return Promise.resolve(remainder);
    }
    return this.#inner.read();
  }

  /**
   * Writes to the inner connection.
   *
   * @param bytes The bytes to send.
   * @returns Resolves once the operating system took them.
   */
  write(bytes: Uint8Array): Promise<void> {
    return this.#inner.write(bytes);
  }

  /**
   * Queues bytes on the inner connection.
   *
   * @param bytes The bytes to send.
   * @returns `false` under backpressure.
   */
  send(bytes: Uint8Array): boolean {
    return this.#inner.send(bytes);
  }

  /**
   * Waits for the inner connection's queued output to go under its high-water mark.
   *
   * @returns Resolves when more may be sent.
   */
  writable(): Promise<void> {
    return this.#inner.writable();
  }

  /**
   * Sends on the inner connection in as few writes as it can.
   *
   * @param pieces The bytes, in order.
   * @returns `false` under backpressure.
   */
  sendAll(pieces: readonly Uint8Array[]): boolean {
    return sendPieces(this.#inner, pieces);
  }

  /**
   * Half-closes the inner connection.
   *
   * @returns Resolves once FIN was sent.
   */
  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  /** Closes the inner connection. */
  close(): void {
    this.#remainder = null;
    this.#inner.close();
  }

  /**
   * Closes the inner connection and waits until it is closed.
   *
   * @returns Resolves once closed.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#remainder = null;
    await this.#inner[Symbol.asyncDispose]();
  }
}

/**
 * Reads the PROXY header of an accepted plain connection and returns the connection as seen
 * through it. On failure the connection is closed and the promise rejects.
 *
 * @example
 * ```ts
 * import { acceptProxyHeader } from "./proxy_conn.ts";
 * import type { Conn } from "./types.ts";
 * async function realClient(conn: Conn): Promise<string> {
 *   const proxied = await acceptProxyHeader(conn, { trusted: ["10.0.0.0/8"], timeout: 3000 });
 *   return proxied.remoteAddr.hostname;
 * }
 * ```
 *
 * @param conn A just-accepted connection on which nothing has been read.
 * @param options Trusted sources, deadline, whether a header is required.
 * @param signal Aborting closes the connection and rejects with `ABORTED`.
 * @returns The proxied connection.
 * @throws {RtmpError} As {@linkcode readProxyHeader}, plus `INVALID_ARGUMENT` for bad options.
 */
export async function acceptProxyHeader(
  conn: Conn,
  options: ProxyProtocolOptions | ProxyProtocolSettings = {},
  signal?: AbortSignal,
): Promise<ProxiedConn> {
  let settings: ProxyProtocolSettings;
  try {
    settings = proxyProtocolSettings(options);
  } catch (error) {
    conn.close();
    throw error;
  }
  const { header, remainder } = await readProxyHeader(conn, conn.remoteAddr, settings, signal);
  return new ProxiedConn(conn, header, remainder);
}

/**
 * The PROXY header a connection from a `proxyProtocol` listener was accepted with.
 *
 * @example
 * ```ts
 * import { proxyHeaderOf } from "./proxy_conn.ts";
 * import type { Conn } from "./types.ts";
 * function viaProxy(conn: Conn): boolean {
 *   return proxyHeaderOf(conn)?.command === "PROXY";
 * }
 * ```
 *
 * @param conn Any connection.
 * @returns Its header, or `null` (no header, or not a proxied connection).
 */
export function proxyHeaderOf(conn: Conn): ProxyHeader | null {
  return conn instanceof ProxiedConn ? conn.proxyHeader : null;
}

/** Wraps a plain listener: each accepted connection reads its header before it is handed out. */
class ProxyListener extends QueuedListener {
  readonly addr: NetAddress;
  #inner: Listener;
  #settings: ProxyProtocolSettings;
  #reading = 0;
  #stopped = new AbortController();

  constructor(inner: Listener, settings: ProxyProtocolSettings, signal: AbortSignal | undefined) {
    super(inner.tls);
    this.#inner = inner;
    this.#settings = settings;
    this.addr = inner.addr;
    if (this.watch(signal)) this.#acceptLoop();
  }

  protected override stop(): void {
    this.#stopped.abort();
    this.#inner.close();
  }

  /** Headers are read concurrently, counted against the backlog, so one slow peer blocks none. */
  async #acceptLoop(): Promise<void> {
    const queue = this.queue;
    while (!queue.closed) {
      if (!queue.hasRoom(this.#reading)) {
        await queue.room();
        continue;
      }
      const conn = await this.#inner.accept();
      if (conn === null) {
        this.close();
        return;
      }
      this.#reading++;
      this.#admit(conn);
    }
  }

  async #admit(conn: Conn): Promise<void> {
    try {
      const { header, remainder } = await readProxyHeader(
        conn,
        conn.remoteAddr,
        this.#settings,
        this.#stopped.signal,
      );
      const proxied = new ProxiedConn(conn, header, remainder);
      if (!this.queue.push(proxied)) proxied.close();
    } catch (error) {
      if (!this.#stopped.signal.aborted) reportReject(this.#settings, error, conn.remoteAddr);
    } finally {
      this.#reading--;
    }
  }
}

/**
 * Hands a rejection to {@linkcode ProxyProtocolOptions.onReject}; a throwing callback must not
 * break the listener.
 *
 * @example
 * ```ts
 * import { proxyProtocolSettings, reportReject } from "./proxy_conn.ts";
 * const settings = proxyProtocolSettings({ onReject: (e) => console.log(e.code) });
 * reportReject(settings, new Error("boom"), { hostname: "127.0.0.1", port: 1 }); // "NETWORK"
 * ```
 *
 * @param settings The listener's settings.
 * @param error Why the connection was closed.
 * @param peer The connection's real peer.
 */
export function reportReject(
  settings: ProxyProtocolSettings,
  error: unknown,
  peer: NetAddress,
): void {
  const reason = error instanceof RtmpError
    ? error
    : new RtmpError("NETWORK", `PROXY protocol: ${String(error)}`, { cause: error });
  try {
    settings.onReject?.(reason, peer);
  } catch {
    // The callback's failure is its own; the listener keeps serving.
  }
}

/**
 * `listen()` for a plain (non-TLS) `proxyProtocol` listener: binds with `listenPlain` and wraps
 * the result so that `accept()` yields {@linkcode ProxiedConn}s. The adapters call this; TLS
 * listeners need the header before the handshake and are handled by the node adapter.
 *
 * @example
 * ```ts
 * import { proxyListen } from "./proxy_conn.ts";
 * import { nodeAdapter } from "./node.ts";
 * const listener = await proxyListen(
 *   { hostname: "127.0.0.1", port: 0, proxyProtocol: {} },
 *   (options) => nodeAdapter.listen(options),
 * );
 * listener.close();
 * ```
 *
 * @param options Listen options with `proxyProtocol` set and no `tls`.
 * @param listenPlain Binds the underlying plain listener.
 * @returns The wrapping listener.
 * @throws {RtmpError} `INVALID_ARGUMENT` for bad options, or what `listenPlain` throws.
 */
export async function proxyListen(
  options: ListenOptions,
  listenPlain: (options: ListenOptions) => Promise<Listener>,
): Promise<Listener> {
  if (options.tls !== undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "proxyListen: expected a plain listener; TLS listeners read the header before the handshake",
    );
  }
  const settings = proxyProtocolSettings(options.proxyProtocol ?? {});
  const { proxyProtocol: _proxy, signal, ...plain } = options;
  return new ProxyListener(await listenPlain(plain), settings, signal);
}
