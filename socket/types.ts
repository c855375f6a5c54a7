/**
 * The one small socket interface every layer above the adapters uses. Adapters for Deno, Bun
 * and Node implement it; the protocol core never sees a runtime socket.
 *
 * Reading is a pull `read()` rather than an async iterator: on Deno, `conn.read(buf)` into a
 * reused buffer measured ≈ 3× faster than the default readable iterator (design §2), and a
 * pull read gives every adapter natural read-side backpressure (nothing is read until asked).
 *
 * @module
 */

import type { RtmpError } from "../errors.ts";

/**
 * A host/port pair.
 *
 * @example
 * ```ts
 * import type { NetAddress } from "./types.ts";
 * const a: NetAddress = { hostname: "127.0.0.1", port: 1935 };
 * ```
 */
export interface NetAddress {
  /** IP address or host name. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/**
 * An open byte stream (TCP or TLS).
 *
 * @example Echo one chunk back
 * ```ts
 * import type { Conn } from "./types.ts";
 * async function echoOnce(conn: Conn): Promise<void> {
 *   const chunk = await conn.read();
 *   if (chunk) await conn.write(chunk.slice());
 *   await conn.closeWrite();
 * }
 * ```
 */
export interface Conn extends AsyncDisposable {
  /**
   * Reads the next chunk of bytes, or `null` at end of stream (the peer's FIN).
   * The returned view may share memory with an internal buffer and is valid only until the next
   * `read()` call: copy what you keep. Rejects with `RtmpError` (`CONNECTION_RESET`, `TLS`, …).
   * At most one `read()` may be pending at a time.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Writes all of `bytes`. Resolves only when the operating system has accepted every byte, so
   * a slow peer slows the writer instead of growing memory. The caller must not modify `bytes`
   * until the promise settles. Rejects with `RtmpError` (`CONNECTION_RESET`,
   * `CONNECTION_CLOSED`, …).
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Queues all of `bytes` behind everything written before, without a promise: the path of a
   * driver that moves many small messages per turn (media to hundreds of players), where a
   * promise per message costs more than the write. Returns `false` once the bytes not yet
   * taken by the operating system exceed the connection's high-water mark, or when the
   * connection is closed or failed (then the bytes are dropped); wait for
   * {@linkcode Conn.writable} before sending more. The caller must not modify `bytes` afterwards.
   */
  send(bytes: Uint8Array): boolean;
  /**
   * Resolves once the output queued by {@linkcode Conn.send} is back under the high-water mark
   * (at once when it is). Rejects with the connection's `RtmpError` when it failed or closed.
   */
  writable(): Promise<void>;
  /**
   * Sends `pieces` in order, as {@linkcode Conn.send} one after the other would, in as few
   * writes as the connection can, now: Node's adapter hands them to one writev without copying
   * them, others gather small neighbours into one buffer. Absent: the caller gathers them
   * (`sendPieces` in `socket/gather.ts`). A driver that serves 500 players in one turn sends each
   * player's batch this way, so the first player's bytes do not wait for the last player's
   * work. Returns `false` as `send` does.
   */
  sendAll?(pieces: readonly Uint8Array[]): boolean;
  /**
   * Gracefully closes the write side: waits for pending writes, then sends FIN. Reading stays
   * possible until the peer closes. Idempotent.
   */
  closeWrite(): Promise<void>;
  /** Closes both directions at once and releases the socket. Idempotent; never throws. */
  close(): void;
  /** Settles (never rejects) once the connection is fully closed, by either side. */
  readonly closed: Promise<void>;
  /** The local address. */
  readonly localAddr: NetAddress;
  /** The peer's address. */
  readonly remoteAddr: NetAddress;
  /** Whether the connection runs over TLS. */
  readonly tls: boolean;
}

/**
 * TLS settings for an outgoing connection.
 *
 * @example
 * ```ts
 * import type { TlsConnectOptions } from "./types.ts";
 * const tls: TlsConnectOptions = { serverName: "a.rtmps.youtube.com" };
 * ```
 */
export interface TlsConnectOptions {
  /** Name sent in SNI and checked against the certificate. Defaults to the hostname. */
  serverName?: string;
  /** Extra trusted CA certificates in PEM form (e.g. a self-signed test certificate). */
  ca?: string | string[];
  /** Skip certificate verification. Dangerous; for tests and debugging only. */
  insecure?: boolean;
}

/**
 * Options for {@linkcode SocketAdapter.connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./types.ts";
 * const o: ConnectOptions = { hostname: "127.0.0.1", port: 1935, timeout: 5000 };
 * ```
 */
export interface ConnectOptions {
  /** Host name or IP address to connect to. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Use TLS: `true` for defaults, or settings. */
  tls?: boolean | TlsConnectOptions;
  /** Cancels the connection attempt (rejects with `ABORTED`). */
  signal?: AbortSignal;
  /** Milliseconds before the attempt rejects with `TIMEOUT` (TCP + TLS). Default 10 000. */
  timeout?: number;
  /** Disable Nagle's algorithm. Default `true`: RTMP is latency-sensitive. */
  noDelay?: boolean;
}

/**
 * TLS settings for a listener.
 *
 * @example
 * ```ts
 * import type { TlsListenOptions } from "./types.ts";
 * const tls: TlsListenOptions = { cert: "-----BEGIN CERTIFICATE-----…", key: "-----BEGIN PRIVATE KEY-----…" };
 * ```
 */
export interface TlsListenOptions {
  /** Certificate chain in PEM form. */
  cert: string;
  /** Private key in PEM form. */
  key: string;
  /**
   * Milliseconds an accepted client may take to finish its TLS handshake before it is dropped
   * (it is never returned by `accept()`, so nothing above the listener can time it out).
   * Default 30 000; a server passes its own handshake timeout.
   */
  handshakeTimeout?: number;
}

/**
 * PROXY protocol (v1 and v2) on a listener: for servers behind an L4 load balancer such as
 * HAProxy (`send-proxy`, `send-proxy-v2`) or AWS NLB. Each accepted connection must first deliver
 * the balancer's header, which names the real client; the accepted {@linkcode Conn} then reports
 * that client as `remoteAddr` (the balancer's own address stays available through
 * `proxyHeaderOf()`/`ProxiedConn` in `proxy_conn.ts`). On a TLS listener the header precedes the
 * TLS handshake, as a balancer in TCP mode sends it.
 *
 * A connection is closed, never returned by `accept()`, and reported to `onReject` when it comes
 * from an untrusted address while a header is required, sends a header from an untrusted
 * address, sends a malformed header, or has not completed its header within `timeout`.
 *
 * @example
 * ```ts
 * import type { ProxyProtocolOptions } from "./types.ts";
 * const proxy: ProxyProtocolOptions = {
 *   trusted: ["10.0.0.0/8"],
 *   timeout: 5000,
 *   onReject: (error, peer) => console.log(`${peer.hostname}: ${error.message}`),
 * };
 * ```
 */
export interface ProxyProtocolOptions {
  /**
   * Addresses and CIDR ranges (IPv4, IPv6) allowed to send a header. Default loopback only:
   * `127.0.0.0/8` and `::1` (IPv4-mapped forms such as `::ffff:127.0.0.1` match their IPv4 entry).
   */
  trusted?: readonly string[];
  /**
   * Milliseconds a connection has to deliver its complete header (and, when `required` is
   * `false`, its first bytes). Default 5000 (the spec asks for at least 3 s).
   */
  timeout?: number;
  /**
   * `true` (default): every connection must come from a trusted address and start with a
   * header. `false`: a trusted peer may send one or not (the first bytes tell), and an untrusted
   * peer is served as a direct client, but closed if it sends a header.
   */
  required?: boolean;
  /** Called with the reason (an `RtmpError`) for each connection closed by these rules. */
  onReject?: (error: RtmpError, peer: NetAddress) => void;
}

/**
 * Options for {@linkcode SocketAdapter.listen}.
 *
 * @example
 * ```ts
 * import type { ListenOptions } from "./types.ts";
 * const o: ListenOptions = { hostname: "127.0.0.1", port: 0 };
 * ```
 */
export interface ListenOptions {
  /** Address to bind. Default `0.0.0.0`. */
  hostname?: string;
  /** Port to bind; `0` picks a free one (see {@linkcode Listener.addr}). */
  port: number;
  /** Serve TLS with this certificate and key. */
  tls?: TlsListenOptions;
  /** Expect a PROXY protocol header (before TLS, on a TLS listener) on every connection. */
  proxyProtocol?: ProxyProtocolOptions;
  /** Aborting closes the listener. */
  signal?: AbortSignal;
}

/**
 * A bound listening socket that yields accepted connections.
 *
 * @example
 * ```ts
 * import type { Listener } from "./types.ts";
 * async function serve(listener: Listener): Promise<void> {
 *   for await (const conn of listener) conn.close();
 * }
 * ```
 */
export interface Listener extends AsyncIterable<Conn>, AsyncDisposable {
  /** The bound address (with the real port when 0 was asked for). */
  readonly addr: NetAddress;
  /** Whether accepted connections run over TLS. */
  readonly tls: boolean;
  /**
   * Waits for the next connection; `null` once the listener is closed. A connection whose TLS
   * handshake fails is dropped and never returned.
   */
  accept(): Promise<Conn | null>;
  /** Stops listening. Pending and future `accept()` calls resolve `null`. Idempotent. */
  close(): void;
}

/**
 * What each runtime adapter provides.
 *
 * @example
 * ```ts
 * import type { SocketAdapter } from "./types.ts";
 * async function dial(adapter: SocketAdapter): Promise<void> {
 *   const conn = await adapter.connect({ hostname: "127.0.0.1", port: 1935 });
 *   conn.close();
 * }
 * ```
 */
export interface SocketAdapter {
  /** Which runtime API the adapter uses. */
  readonly name: "deno" | "bun" | "node";
  /** Opens a TCP or TLS connection. */
  connect(options: ConnectOptions): Promise<Conn>;
  /** Binds a TCP or TLS listener. */
  listen(options: ListenOptions): Promise<Listener>;
}
