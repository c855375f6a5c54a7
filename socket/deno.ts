/**
 * Socket adapter on Deno's native `Deno.connect` / `Deno.startTls` / `Deno.listen` /
 * `Deno.listenTls`. Loaded only on Deno.
 *
 * Reading uses `conn.read(buf)` into one reused buffer per connection: on this machine that ran
 * ≈ 3× faster than the `readable` stream (design §2), and since nothing is read until asked, TCP
 * flow control is the read backpressure.
 *
 * TLS certificate checks cannot be switched off per connection in Deno (only process-wide with
 * `--unsafely-ignore-certificate-errors`), so a connect with `tls.insecure` is served by the
 * `node:tls` adapter, which Deno implements with a per-connection `rejectUnauthorized`.
 *
 * Known limit (Deno 2.9.6): a `Deno.listenTls` connection whose client never finishes its TLS
 * handshake cannot be closed from this side — Deno completes a handshake before it shuts a
 * connection down (denoland/deno#14547). After `tls.handshakeTimeout` such a client no longer
 * takes an accept slot, but its socket stays open until the client goes away.
 *
 * @example
 * ```ts
 * import { denoAdapter } from "./deno.ts";
 * const listener = await denoAdapter.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await denoAdapter.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * conn.close();
 * listener.close();
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { freeNow } from "../protocol/free_now.ts";
import { QueuedListener, TLS_HANDSHAKE_TIMEOUT_MS } from "./accept_queue.ts";
import {
  abortedError,
  checkEndpoint,
  closedError,
  connectTimeout,
  timeoutError,
  tlsHandshakeError,
  tlsHandshakeTimeout,
  toRtmpError,
} from "./errors.ts";
import { proxyListen } from "./proxy_conn.ts";
import { sniName } from "./sni.ts";
import { WriteGate } from "./write_gate.ts";
import type {
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddress,
  SocketAdapter,
} from "./types.ts";

/**
 * Per-connection receive buffer. In `bench/socket_bench.ts` 64 KiB ran as fast as 256 KiB (within
 * noise, ≈ 2.7–2.9 GB/s) and 16 KiB ≈ 20 % slower; 64 KiB keeps a server with many publishers small.
 */
const READ_BUFFER_SIZE = 64 * 1024;
/**
 * Where the receive buffer starts: C0 + C1 (1537 bytes, RTMP 1.0 §5.2.5) in one read. It doubles
 * up to {@linkcode READ_BUFFER_SIZE} while reads fill it.
 */
const INITIAL_READ_BUFFER_SIZE = 2 * 1024;
/**
 * The smallest receive buffer: after the handshake and `connect` an idle connection waits with
 * this, not with what its biggest read needed (a pending read holds its buffer).
 */
const MIN_READ_BUFFER_SIZE = 512;

/**
 * Every connection's writes, at most 128 in flight, in call order: past about that many pending
 * writes Deno 2.9.6 issues the rest in reverse order (see {@linkcode WriteGate}). Server bench,
 * 500 realtime players, median of 3: p50 2.97 → 2.71 ms, p99 10.8 → 8.38 ms, players served in
 * join order (`RTMP_BENCH_DEBUG=1`).
 */
const WRITES = new WriteGate({ limit: 128 });

/** Longest pause between retries when `accept()` fails for a transient reason (e.g. EMFILE). */
const MAX_ACCEPT_BACKOFF_MS = 1000;

/**
 * The slice of the `Deno` namespace this adapter uses, read from `globalThis` so that loading the
 * module outside Deno fails only when a function is called, not at import.
 */
interface DenoNet {
  connect(options: Deno.ConnectOptions): Promise<Deno.TcpConn>;
  startTls(conn: Deno.TcpConn, options?: Deno.StartTlsOptions): Promise<Deno.TlsConn>;
  listen(options: Deno.TcpListenOptions & { transport?: "tcp" }): Deno.TcpListener;
  listenTls(options: Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem): Deno.TlsListener;
}

function denoNet(): DenoNet {
  const deno = (globalThis as { Deno?: DenoNet }).Deno;
  if (deno === undefined) {
    throw new RtmpError(
      "UNSUPPORTED",
      "denoAdapter: expected the Deno runtime (globalThis.Deno), found none; use nodeAdapter",
    );
  }
  return deno;
}

function address(addr: Deno.Addr): NetAddress {
  // A TlsConn made by Deno.startTls reports { hostname, port } without `transport`.
  const { hostname, port } = addr as Partial<Deno.NetAddr>;
  return typeof hostname === "string" && typeof port === "number"
    ? { hostname, port }
    : { hostname: "", port: 0 };
}

/** The power of two at least twice `n`: room for a read somewhat larger than the last one. */
function fitting(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, 1) * 2));
}

interface WriteJob {
  bytes: Uint8Array;
  /** `null` for bytes queued by `send()`: nobody waits for them. */
  done: PromiseWithResolvers<void> | null;
}

/** Bytes queued by `send()` past which it reports backpressure. */
const SEND_HIGH_WATER = 64 << 10;
/** Queued pieces smaller than this are gathered into one `write` (one promise, one syscall). */
const GATHER_PIECE = 16 << 10;
/** The most bytes gathered into one write. */
const GATHER_LIMIT = 256 << 10;

/** A connection over a `Deno.TcpConn` or `Deno.TlsConn`. */
class DenoConn implements Conn {
  readonly localAddr: NetAddress;
  readonly remoteAddr: NetAddress;
  readonly tls: boolean;
  readonly closed: Promise<void>;

  #conn: Deno.Conn;
  #resolveClosed: () => void;
  #buffer: Uint8Array | null = null;
  /** A receive buffer outgrown by the last read: the caller's until this read; freed then. */
  #outgrown: Uint8Array | null = null;
  #reading = false;
  #eof = false;
  #error: RtmpError | null = null;
  #released = false;
  #closedLocally = false;
  #writeEnded: Promise<void> | null = null;
  #finSent = false;
  #jobs: WriteJob[] = [];
  #pumping: Promise<void> | null = null;
  /** Bytes in `#jobs` not yet written. */
  #queued = 0;
  #writable: PromiseWithResolvers<void> | null = null;

  constructor(conn: Deno.Conn, isTls: boolean) {
    this.#conn = conn;
    this.tls = isTls;
    this.localAddr = address(conn.localAddr);
    this.remoteAddr = address(conn.remoteAddr);
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    this.#resolveClosed = closed.resolve;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#reading) {
      throw new RtmpError("INVALID_ARGUMENT", "read: expected one pending read() at most, got two");
    }
    // What the last read returned is no longer the caller's (Conn contract): free outgrown
    // buffers now rather than when the collector runs (see protocol/free_now.ts).
    if (this.#outgrown !== null) freeNow(this.#outgrown);
    this.#outgrown = null;
    if (this.#error !== null || this.#eof || this.#closedLocally) {
      // Nothing more to read into: the receive buffer goes too.
      this.#dropBuffer();
      if (this.#error !== null) throw this.#error;
      return null;
    }
    this.#reading = true;
    // Start small and double whenever a read fills the buffer, so a publisher reaches the full
    // size within a few reads; shrink to fit after a read that used a quarter or less, so an
    // idle or mostly-writing connection (a player) waits with a small one. One 64 KiB buffer
    // per connection was most of an idle connection's memory, then 4 KiB was.
    const buffer = this.#buffer ??= new Uint8Array(INITIAL_READ_BUFFER_SIZE);
    let n: number | null;
    try {
      n = await this.#conn.read(buffer);
    } catch (error) {
      // A read that ends the connection frees its buffer now: the caller reads no more, and a
      // connection closed under a flood (evicted, reset) would otherwise leave its 64 KiB to
      // the collector, which lets thousands of them pile up (issue 13 §1).
      this.#dropBuffer();
      if (this.#closedLocally) return null;
      // rustls reports a TLS peer that closed without close_notify as UnexpectedEof; Node and Bun
      // (OpenSSL/BoringSSL with unexpected EOF ignored) report a plain end of stream, and many
      // servers close that way. RTMP messages carry their own lengths, so truncation shows anyway.
      if (this.tls && (error as { name?: unknown } | null)?.name === "UnexpectedEof") {
        n = null;
      } else {
        this.#fail(error, "read");
        throw this.#error;
      }
    } finally {
      this.#reading = false;
    }
    if (n === null || this.#closedLocally) {
      // End of stream, or closed by us while the read was pending (its bytes are not wanted).
      this.#dropBuffer();
      if (n !== null) return null;
      this.#eof = true;
      // FIN received after ours was sent: nothing more can happen on this connection.
      if (this.#finSent) this.#release();
      return null;
    }
    // The next read gets the new buffer; this one is still the caller's until then, and is
    // freed at the next read.
    if (n === buffer.length) {
      if (n < READ_BUFFER_SIZE) {
        this.#buffer = new Uint8Array(Math.min(n * 2, READ_BUFFER_SIZE));
        this.#outgrown = buffer;
      }
    } else if (n <= buffer.length >> 2 && buffer.length > MIN_READ_BUFFER_SIZE) {
      this.#buffer = new Uint8Array(Math.max(fitting(n), MIN_READ_BUFFER_SIZE));
      this.#outgrown = buffer;
    }
    return buffer.subarray(0, n);
  }

  /** Frees the receive buffers (none is the caller's: called when no more reads come). */
  #dropBuffer(): void {
    if (this.#buffer !== null) freeNow(this.#buffer);
    this.#buffer = null;
    if (this.#outgrown !== null) freeNow(this.#outgrown);
    this.#outgrown = null;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closedLocally || this.#writeEnded !== null) {
      return Promise.reject(closedError("write"));
    }
    if (bytes.byteLength === 0) return Promise.resolve();
    const done = Promise.withResolvers<void>();
    this.#jobs.push({ bytes, done });
    this.#queued += bytes.byteLength;
    this.#pumping ??= this.#pump();
    return done.promise;
  }

  send(bytes: Uint8Array): boolean {
    if (this.#error !== null || this.#closedLocally || this.#writeEnded !== null) return false;
    this.#jobs.push({ bytes, done: null });
    this.#queued += bytes.byteLength;
    this.#pumping ??= this.#pump();
    return this.#queued < SEND_HIGH_WATER;
  }

  writable(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closedLocally || this.#released) return Promise.reject(closedError("write"));
    if (this.#queued < SEND_HIGH_WATER) return Promise.resolve();
    this.#writable ??= Promise.withResolvers<void>();
    return this.#writable.promise;
  }

  closeWrite(): Promise<void> {
    if (this.#writeEnded === null) this.#writeEnded = this.#endWrite();
    return this.#writeEnded;
  }

  close(): void {
    if (this.#closedLocally) return;
    this.#closedLocally = true;
    this.#failJobs(closedError("write"));
    this.#release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #endWrite(): Promise<void> {
    if (this.#pumping !== null) await this.#pumping;
    if (this.#closedLocally || this.#released) return;
    if (this.#error !== null) throw this.#error;
    try {
      await this.#conn.closeWrite();
    } catch (error) {
      if (this.#closedLocally) return;
      this.#fail(error, "closeWrite");
      throw this.#error;
    }
    this.#finSent = true;
    if (this.#eof) this.#release();
  }

  /**
   * Drains the write queue in order; `conn.write` may take only part of a buffer. Small pieces
   * queued together go out as one write: `Deno.Conn` has no writev, and a write is a promise.
   */
  async #pump(): Promise<void> {
    const conn = this.#conn;
    const jobs = this.#jobs;
    while (jobs.length > 0) {
      let ticket = WRITES.enter();
      if (typeof ticket !== "number") ticket = await ticket;
      // Closed while it waited: the jobs are settled already.
      if (jobs.length === 0) {
        WRITES.leave(ticket);
        break;
      }
      let end = 0;
      let gathered = 0;
      while (
        end < jobs.length && jobs[end].bytes.byteLength < GATHER_PIECE &&
        gathered + jobs[end].bytes.byteLength <= GATHER_LIMIT
      ) gathered += jobs[end++].bytes.byteLength;
      let bytes: Uint8Array;
      if (end < 2) {
        end = 1;
        bytes = jobs[0].bytes;
      } else {
        bytes = new Uint8Array(gathered);
        let at = 0;
        for (let i = 0; i < end; i++) {
          bytes.set(jobs[i].bytes, at);
          at += jobs[i].bytes.byteLength;
        }
      }
      try {
        let offset = await conn.write(bytes);
        while (offset < bytes.byteLength) offset += await conn.write(bytes.subarray(offset));
      } catch (error) {
        if (!this.#closedLocally) this.#fail(error, "write");
        this.#failJobs(this.#error ?? closedError("write"));
        break;
      } finally {
        WRITES.leave(ticket);
      }
      for (const job of jobs.splice(0, end)) job.done?.resolve();
      this.#queued -= bytes.byteLength;
      if (this.#queued < SEND_HIGH_WATER) this.#wakeWritable();
    }
    this.#pumping = null;
  }

  #wakeWritable(error?: RtmpError): void {
    const w = this.#writable;
    if (w === null) return;
    this.#writable = null;
    if (error) w.reject(error);
    else w.resolve();
  }

  #failJobs(error: RtmpError): void {
    for (const job of this.#jobs.splice(0)) job.done?.reject(error);
    this.#queued = 0;
    this.#wakeWritable(error);
  }

  #fail(error: unknown, doing: string): void {
    if (this.#error === null) this.#error = toRtmpError(error, doing, this.tls);
    this.#release();
  }

  /** Closes the resource once: after `close()`, a failure, or FIN sent and received. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime (e.g. after a reset): nothing left to release.
    }
    this.#resolveClosed();
  }
}

/** A listener over `Deno.TcpListener` or `Deno.TlsListener`. */
class DenoListener extends QueuedListener {
  readonly addr: NetAddress;

  #listener: Deno.Listener;
  #handshaking = 0;
  #handshakeMs: number;

  constructor(
    listener: Deno.Listener,
    isTls: boolean,
    signal: AbortSignal | undefined,
    handshakeMs: number,
  ) {
    super(isTls);
    this.#listener = listener;
    this.#handshakeMs = handshakeMs;
    this.addr = address(listener.addr);
    if (this.watch(signal)) this.#acceptLoop();
  }

  protected override stop(): void {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Accepts while the hand-over queue has room, so a caller that stops accepting leaves further
   * clients in the kernel backlog. TLS handshakes run concurrently: one silent client must not
   * hold up the others (design §5, "one silent client blocks the accept loop").
   */
  async #acceptLoop(): Promise<void> {
    const queue = this.queue;
    let backoff = 0;
    while (!queue.closed) {
      if (!queue.hasRoom(this.#handshaking)) {
        await queue.room();
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (queue.closed) return;
        const name = (error as { name?: string } | null)?.name;
        if (name === "BadResource" || name === "Interrupted") {
          this.close();
          return;
        }
        backoff = Math.min(backoff === 0 ? 5 : backoff * 2, MAX_ACCEPT_BACKOFF_MS);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      backoff = 0;
      if (this.tls) {
        this.#handshake(conn as Deno.TlsConn);
      } else {
        try {
          (conn as Deno.TcpConn).setNoDelay(true);
        } catch {
          // Already reset by the client; reading it will report that.
        }
        const wrapped = new DenoConn(conn, false);
        if (!queue.push(wrapped)) wrapped.close();
      }
    }
  }

  async #handshake(conn: Deno.TlsConn): Promise<void> {
    this.#handshaking++;
    const timer = setTimeout(() => conn.close(), this.#handshakeMs);
    try {
      await conn.handshake();
    } catch {
      // A client that fails the handshake is dropped and never returned (Listener.accept).
      try {
        conn.close();
      } catch {
        // Closed by the timeout already.
      }
      return;
    } finally {
      clearTimeout(timer);
      this.#handshaking--;
    }
    const wrapped = new DenoConn(conn, true);
    if (!this.queue.push(wrapped)) wrapped.close();
  }
}

function normalizeCa(ca: string | string[] | undefined): string[] | undefined {
  return ca === undefined ? undefined : typeof ca === "string" ? [ca] : ca;
}

async function connect(options: ConnectOptions): Promise<Conn> {
  checkEndpoint(options.hostname, options.port, "connect");
  const timeout = connectTimeout(options.timeout);
  const { hostname, port, signal } = options;
  const doing = `connect to ${hostname}:${port}`;
  if (signal?.aborted) throw abortedError(doing, signal.reason);
  const isTls = options.tls !== undefined && options.tls !== false;
  const settings = typeof options.tls === "object" ? options.tls : {};
  if (isTls && settings.insecure === true) {
    const { nodeAdapter } = await import("./node.ts");
    return nodeAdapter.connect(options);
  }
  const deno = denoNet();
  const name = settings.serverName ?? hostname;

  // One controller ends whichever phase (TCP connect or TLS handshake) is running when the
  // deadline passes or the caller aborts; `stop` records which of the two it was.
  const controller = new AbortController();
  let stop: RtmpError | null = null;
  let tlsConn: Deno.TlsConn | null = null;
  const halt = (error: RtmpError): void => {
    if (stop !== null) return;
    stop = error;
    controller.abort(error);
    try {
      tlsConn?.close();
    } catch {
      // Already closed.
    }
  };
  const onAbort = (): void => halt(abortedError(doing, signal?.reason));
  const timer = setTimeout(() => halt(timeoutError(doing, timeout)), timeout);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    let tcp: Deno.TcpConn;
    try {
      tcp = await deno.connect({ hostname, port, signal: controller.signal });
    } catch (error) {
      throw stop ?? toRtmpError(error, doing, isTls);
    }
    if (stop !== null) {
      tcp.close();
      throw stop;
    }
    tcp.setNoDelay(options.noDelay ?? true);
    if (!isTls) return new DenoConn(tcp, false);
    try {
      // rustls sends no SNI for an IP (RFC 6066 §3) and checks the certificate against it;
      // sniName() only drops the trailing dot of an absolute DNS name here.
      tlsConn = await deno.startTls(tcp, {
        hostname: sniName(name) ?? name,
        caCerts: normalizeCa(settings.ca),
      });
      if (stop !== null) throw stop;
      await tlsConn.handshake();
    } catch (error) {
      try {
        (tlsConn ?? tcp).close();
      } catch {
        // Closed by halt().
      }
      throw stop ?? tlsHandshakeError(error, `${hostname}:${port}`, name);
    }
    if (stop !== null) {
      tlsConn.close();
      throw stop;
    }
    return new DenoConn(tlsConn, true);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function listen(options: ListenOptions): Promise<Listener> {
  if (options.proxyProtocol !== undefined) return listenProxied(options);
  try {
    const hostname = options.hostname ?? "0.0.0.0";
    checkEndpoint(hostname, options.port, "listen", true);
    const deno = denoNet();
    const { port, tls } = options;
    const handshakeMs = tlsHandshakeTimeout(tls?.handshakeTimeout, TLS_HANDSHAKE_TIMEOUT_MS);
    let listener: Deno.Listener;
    try {
      listener = tls === undefined
        ? deno.listen({ hostname, port })
        : deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key });
    } catch (error) {
      throw toRtmpError(error, `listen on ${hostname}:${port}`, tls !== undefined);
    }
    return Promise.resolve(
      new DenoListener(listener, tls !== undefined, options.signal, handshakeMs),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * A `proxyProtocol` listener. A plain one wraps a native listener (see `proxy_conn.ts`). On a TLS
 * listener the header comes before the handshake, so the raw TCP socket must be read first and
 * TLS started on it afterwards. Deno starts TLS on an accepted TCP connection only as a client
 * (`Deno.startTls`); its one server-side TLS API, `Deno.listenTls`, handshakes at once. So such
 * listeners are served by the `node:tls` adapter, whose TLS reads on Deno are not bounded by
 * backpressure (see `node.ts`).
 */
async function listenProxied(options: ListenOptions): Promise<Listener> {
  if (options.tls === undefined) return await proxyListen(options, listen);
  const { nodeAdapter } = await import("./node.ts");
  return await nodeAdapter.listen(options);
}

/**
 * The native Deno adapter (`Deno.connect`, `Deno.startTls`, `Deno.listen`, `Deno.listenTls`).
 *
 * `tls.serverName` is sent in SNI and verified by handing it to `Deno.startTls` after a TCP
 * connect to `hostname`. `tls.insecure` is delegated to the `node:tls` adapter (see the module
 * documentation).
 *
 * @example Echo one message
 * ```ts
 * import { denoAdapter } from "./deno.ts";
 * const listener = await denoAdapter.listen({ hostname: "127.0.0.1", port: 0 });
 * listener.accept().then(async (conn) => {
 *   const chunk = await conn?.read();
 *   if (conn && chunk) await conn.write(chunk.slice());
 * });
 * const conn = await denoAdapter.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("hi"));
 * console.log(await conn.read());
 * conn.close();
 * listener.close();
 * ```
 */
export const denoAdapter: SocketAdapter = {
  name: "deno",
  connect,
  listen,
};

export type { RtmpError, RtmpErrorCode } from "../errors.ts";
export type {
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddress,
  ProxyProtocolOptions,
  SocketAdapter,
  TlsConnectOptions,
  TlsListenOptions,
} from "./types.ts";
