/**
 * Socket adapter on `node:net` / `node:tls`. It is the adapter for Node and also runs on Deno and
 * Bun through their Node compatibility layers (on Bun it is the faster choice, see `mod.ts`).
 *
 * @example
 * ```ts
 * import { nodeAdapter } from "./node.ts";
 * const listener = await nodeAdapter.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await nodeAdapter.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * conn.close();
 * listener.close();
 * ```
 *
 * @module
 */

import * as net from "node:net";
import process from "node:process";
import * as tls from "node:tls";
import type { RtmpError } from "../errors.ts";
import { ACCEPT_BACKLOG, QueuedListener, TLS_HANDSHAKE_TIMEOUT_MS } from "./accept_queue.ts";
import {
  abortedError,
  checkEndpoint,
  classifySocketError,
  closedError,
  connectTimeout,
  timeoutError,
  tlsHandshakeError,
  tlsHandshakeTimeout,
  toRtmpError,
} from "./errors.ts";
import {
  type HeaderSource,
  ProxiedConn,
  proxyListen,
  type ProxyProtocolSettings,
  proxyProtocolSettings,
  readProxyHeader,
  reportReject,
} from "./proxy_conn.ts";
import { ReadQueue } from "./read_queue.ts";
import { sniName } from "./sni.ts";
import type {
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddress,
  SocketAdapter,
} from "./types.ts";
import { sendGathered } from "./gather.ts";

/**
 * Larger writes are handed to the socket in slices of this size, each after the previous one
 * drained: Node would otherwise hold the whole write (and, for TLS, its whole ciphertext) in user
 * memory at once.
 */
const WRITE_SLICE = 1 << 20;

/**
 * Whether {@linkcode NodeConn.sendAll} corks its pieces into one writev: on Node only. Bun's and
 * Deno's `node:net` are emulations with their own write paths (they have adapters of their
 * own), so pieces are gathered into one buffer there; on Bun a corked socket's `drain` came
 * before the peer had read anything, so `writable()` would not hold back a slow reader.
 */
const WRITEV = typeof process.versions.bun !== "string" && !("Deno" in globalThis);

/**
 * Deno's `node:tls` (2.9.6) loses the peer's FIN when it arrives while a TLS socket is paused: the
 * stream never ends and a reader waits forever. Plain `node:net` on Deno and `node:tls` on Node
 * and Bun are fine. So on Deno, TLS sockets of this adapter are never paused — reads there are
 * not bounded by backpressure. Deno's default adapter (`denoAdapter`) reads by pull and has no
 * such gap; Deno uses this adapter for TLS only when a caller asks for `tls.insecure`.
 */
const PAUSE_BREAKS_TLS_EOF = typeof (globalThis as { Deno?: unknown }).Deno === "object";

type Deferred = PromiseWithResolvers<void>;

interface WriteJob {
  bytes: Uint8Array;
  offset: number;
  /** `null` for bytes queued by `send()`: nobody waits for them. */
  done: Deferred | null;
}

function ignore(): void {}

function dropClient(_error: Error, socket: tls.TLSSocket): void {
  socket.destroy();
}

function address(host: string | undefined, port: number | undefined): NetAddress {
  return { hostname: host ?? "", port: port ?? 0 };
}

/**
 * The connection a socket belongs to: the read-side handlers are shared by every connection (as
 * Node calls a listener with the socket as `this`) instead of four closures per connection.
 */
const OWNER = Symbol("NodeConn");
type Owned = net.Socket & { [OWNER]: NodeConn };

/** A connection over a `net.Socket` or `tls.TLSSocket`. */
class NodeConn implements Conn {
  readonly remoteAddr: NetAddress;
  readonly tls: boolean;
  readonly closed: Promise<void>;

  #socket: net.Socket;
  #resolveClosed: () => void;
  #rx: ReadQueue;
  #eof = false;
  #error: RtmpError | null = null;
  #closedLocally = false;
  #writeEnded: Promise<void> | null = null;
  /** Write callbacks fire in write order, so one FIFO of deferreds serves every write. */
  #flushes: Deferred[] = [];
  #jobs: WriteJob[] = [];
  #pumping = false;
  #drain: Deferred | null = null;
  #pumpIdle: Deferred | null = null;
  /** Waiters of `writable()`. */
  #writable: Deferred | null = null;
  #localAddr: NetAddress | null = null;

  constructor(socket: net.Socket, isTls: boolean) {
    this.#socket = socket;
    this.tls = isTls;
    this.#rx = new ReadQueue(socket, !(isTls && PAUSE_BREAKS_TLS_EOF));
    this.remoteAddr = address(socket.remoteAddress, socket.remotePort);
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    this.#resolveClosed = closed.resolve;
    (socket as Owned)[OWNER] = this;
    socket.on("data", NodeConn.#onData);
    socket.on("end", NodeConn.#onEnd);
    socket.on("error", NodeConn.#onError);
    socket.on("drain", NodeConn.#onDrain);
    socket.on("close", NodeConn.#onClose);
    if (socket.destroyed) this.#closed();
  }

  /** Asked for rarely (a server never does): read on first use, a system call saved per accept. */
  get localAddr(): NetAddress {
    return this.#localAddr ??= address(this.#socket.localAddress, this.#socket.localPort);
  }

  read(): Promise<Uint8Array | null> {
    return this.#rx.read(this.#error, this.#eof || this.#closedLocally);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closedLocally || this.#writeEnded !== null || this.#socket.destroyed) {
      return Promise.reject(closedError("write"));
    }
    if (bytes.byteLength === 0) return Promise.resolve();
    const done = Promise.withResolvers<void>();
    if (!this.#pumping && bytes.byteLength <= WRITE_SLICE) {
      this.#flushes.push(done);
      this.#socket.write(bytes, this.#onFlushed());
    } else {
      this.#jobs.push({ bytes, offset: 0, done });
      if (!this.#pumping) this.#pump();
    }
    return done.promise;
  }

  send(bytes: Uint8Array): boolean {
    const socket = this.#socket;
    if (
      this.#error !== null || this.#closedLocally || this.#writeEnded !== null || socket.destroyed
    ) return false;
    if (!this.#pumping && bytes.byteLength <= WRITE_SLICE) return socket.write(bytes);
    this.#jobs.push({ bytes, offset: 0, done: null });
    if (!this.#pumping) this.#pump();
    return false;
  }

  sendAll(pieces: readonly Uint8Array[]): boolean {
    if (!WRITEV) return sendGathered(pieces, this);
    if (pieces.length === 1) return this.send(pieces[0]);
    // One writev for the lot, without copying: shared media bytes stay shared (what node:http
    // does for its writes).
    const socket = this.#socket;
    socket.cork();
    let ok = true;
    for (const p of pieces) ok = this.send(p) && ok;
    socket.uncork();
    return ok;
  }

  writable(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    const socket = this.#socket;
    if (this.#closedLocally || socket.destroyed) return Promise.reject(closedError("write"));
    if (!this.#pumping && !socket.writableNeedDrain) return Promise.resolve();
    this.#writable ??= Promise.withResolvers<void>();
    return this.#writable.promise;
  }

  /**
   * `end()` after pending writes. On Deno 2.9.6, `node:net` turns an `end()` into a full close
   * (the peer's next write fails with EPIPE) when bytes are still arriving at that moment;
   * `denoAdapter`, Deno's default, half-closes correctly.
   */
  closeWrite(): Promise<void> {
    if (this.#writeEnded === null) this.#writeEnded = this.#endWrite();
    return this.#writeEnded;
  }

  close(): void {
    if (this.#closedLocally) return;
    this.#closedLocally = true;
    this.#socket.destroy();
    this.#failWrites(null);
    this.#rx.settle(this.#error);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #endWrite(): Promise<void> {
    if (this.#pumping) {
      this.#pumpIdle ??= Promise.withResolvers<void>();
      await this.#pumpIdle.promise;
    }
    if (this.#closedLocally) return;
    if (this.#error !== null) throw this.#error;
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    const finished = Promise.withResolvers<void>();
    socket.end(() => finished.resolve());
    const onClose = (): void => finished.resolve();
    socket.once("close", onClose);
    try {
      await finished.promise;
    } finally {
      socket.off("close", onClose);
    }
    if (this.#error !== null && !socket.writableFinished) throw this.#error;
  }

  /** Writes queued jobs slice by slice, waiting for 'drain' whenever Node's buffer is full. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    const socket = this.#socket;
    try {
      for (let job = this.#jobs[0]; job !== undefined; job = this.#jobs[0]) {
        while (job.offset < job.bytes.byteLength) {
          if (this.#error !== null || this.#closedLocally || socket.destroyed) return;
          const end = Math.min(job.offset + WRITE_SLICE, job.bytes.byteLength);
          const slice = job.offset === 0 && end === job.bytes.byteLength
            ? job.bytes
            : job.bytes.subarray(job.offset, end);
          job.offset = end;
          if (end === job.bytes.byteLength) {
            if (job.done === null) socket.write(slice);
            else {
              this.#flushes.push(job.done);
              socket.write(slice, this.#onFlushed());
            }
          } else if (!socket.write(slice)) {
            this.#drain = Promise.withResolvers<void>();
            await this.#drain.promise;
          }
        }
        this.#jobs.shift();
      }
    } finally {
      this.#pumping = false;
      if (this.#jobs.length > 0) {
        this.#failWrites(this.#error);
      }
      const idle = this.#pumpIdle;
      this.#pumpIdle = null;
      idle?.resolve();
      if (!socket.writableNeedDrain) this.#wakeWritable();
    }
  }

  #wakeWritable(error?: RtmpError): void {
    const w = this.#writable;
    if (w === null) return;
    this.#writable = null;
    if (error) w.reject(error);
    else w.resolve();
  }

  /**
   * Settles every write waiter: rejects with `error`, or with a CLOSED error when it is `null`,
   * made only if something waits (most closes have nothing waiting, and an error costs a stack).
   */
  #failWrites(error: RtmpError | null): void {
    const jobs = this.#jobs;
    const flushes = this.#flushes;
    if (jobs.length > 0 || flushes.length > 0 || this.#writable !== null) {
      const e = error ?? closedError("write");
      // Jobs still queued have not handed their last slice to Node, so no callback settles them.
      for (const job of jobs.splice(0)) job.done?.reject(e);
      for (const flush of flushes.splice(0)) flush.reject(e);
      this.#wakeWritable(e);
    }
    const drain = this.#drain;
    this.#drain = null;
    drain?.resolve();
  }

  /**
   * The callback of `socket.write` for `write()`'s promises (Node calls it without `this`), made
   * on the first `write()`: most connections only ever `send()`.
   */
  #flushed: ((error?: Error | null) => void) | null = null;

  #onFlushed(): (error?: Error | null) => void {
    return this.#flushed ??= (error) => {
      const flush = this.#flushes.shift();
      if (flush === undefined) return;
      if (error) flush.reject(this.#error ?? toRtmpError(error, "write", this.tls));
      else flush.resolve();
    };
  }

  static #onData(this: net.Socket, chunk: Uint8Array): void {
    (this as Owned)[OWNER].#rx.push(chunk);
  }

  static #onEnd(this: net.Socket): void {
    const conn = (this as Owned)[OWNER];
    conn.#eof = true;
    conn.#rx.settle(conn.#error);
  }

  static #onError(this: net.Socket, error: Error): void {
    const conn = (this as Owned)[OWNER];
    if (conn.#error === null && !conn.#closedLocally) {
      conn.#error = toRtmpError(error, "connection", conn.tls);
    }
    conn.#rx.settle(conn.#error);
  }

  static #onDrain(this: net.Socket): void {
    const conn = (this as Owned)[OWNER];
    const drain = conn.#drain;
    conn.#drain = null;
    drain?.resolve();
    if (!conn.#pumping) conn.#wakeWritable();
  }

  static #onClose(this: net.Socket): void {
    (this as Owned)[OWNER].#closed();
  }

  #closed(): void {
    if (!this.#eof && this.#error === null && !this.#closedLocally) {
      // Closed without FIN or error (e.g. destroyed from outside): reads end, writes fail.
      this.#eof = true;
    }
    this.#failWrites(this.#error);
    this.#rx.settle(this.#error);
    this.#resolveClosed();
  }
}

/** A listener over `net.Server` or `tls.Server`. */
class NodeListener extends QueuedListener {
  readonly addr: NetAddress;

  #server: net.Server;

  constructor(server: net.Server, isTls: boolean, signal: AbortSignal | undefined) {
    super(isTls);
    this.#server = server;
    const bound = server.address();
    this.addr = typeof bound === "object" && bound !== null
      ? { hostname: bound.address, port: bound.port }
      : { hostname: "", port: 0 };
    server.on(isTls ? "secureConnection" : "connection", this.#onConnection);
    // A failed handshake is dropped and the listener keeps serving. The socket must be
    // destroyed here: Node emits a handshake timeout only as this event and leaves the socket
    // open (a silent client would otherwise be held until it leaves).
    if (isTls) server.on("tlsClientError", dropClient);
    // After binding, Node reports only per-accept failures (e.g. EMFILE) and keeps listening.
    server.on("error", ignore);
    this.watch(signal);
  }

  protected override stop(): void {
    this.#server.close();
  }

  #onConnection = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    const conn = new NodeConn(socket, this.tls);
    if (!this.queue.push(conn)) conn.close();
  };
}

function tlsCa(ca: string | string[] | undefined): string[] | undefined {
  if (ca === undefined) return undefined;
  // Node's `ca` replaces the default roots; the interface promises *extra* trusted CAs.
  return [...tls.rootCertificates, ...(typeof ca === "string" ? [ca] : ca)];
}

function openSocket(options: ConnectOptions, isTls: boolean): net.Socket {
  const { hostname: host, port } = options;
  if (!isTls) return net.connect({ host, port, allowHalfOpen: true });
  const settings = typeof options.tls === "object" ? options.tls : {};
  const name = settings.serverName ?? host;
  const tlsOptions: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
    host,
    port,
    // Honoured by tls.connect (it is passed on to the TLSSocket) though missing from its typings.
    allowHalfOpen: true,
    // RFC 6066 §3: SNI carries DNS names only; an IP is checked against the certificate instead.
    servername: sniName(name),
    ca: tlsCa(settings.ca),
    rejectUnauthorized: settings.insecure !== true,
    checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
      tls.checkServerIdentity(name, cert),
  };
  return tls.connect(tlsOptions);
}

/** The name the server's certificate is checked against. */
function tlsName(options: ConnectOptions): string {
  return (typeof options.tls === "object" ? options.tls.serverName : undefined) ??
    options.hostname;
}

function connect(options: ConnectOptions): Promise<Conn> {
  try {
    checkEndpoint(options.hostname, options.port, "connect");
  } catch (error) {
    return Promise.reject(error);
  }
  let timeout: number;
  try {
    timeout = connectTimeout(options.timeout);
  } catch (error) {
    return Promise.reject(error);
  }
  const doing = `connect to ${options.hostname}:${options.port}`;
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortedError(doing, signal.reason));
  const isTls = options.tls !== undefined && options.tls !== false;
  const result = Promise.withResolvers<Conn>();
  let socket: net.Socket;
  try {
    socket = openSocket(options, isTls);
  } catch (error) {
    return Promise.reject(toRtmpError(error, doing, isTls));
  }
  const readyEvent = isTls ? "secureConnect" : "connect";
  // Once TCP is up, any failure before secureConnect belongs to the TLS handshake.
  let handshaking = false;
  const onTcp = (): void => {
    handshaking = true;
  };
  if (isTls) socket.once("connect", onTcp);
  const cleanup = (): void => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    socket.off(readyEvent, onReady);
    socket.off("connect", onTcp);
    socket.off("error", onError);
  };
  const fail = (error: RtmpError): void => {
    cleanup();
    socket.on("error", ignore);
    socket.destroy();
    result.reject(error);
  };
  const onReady = (): void => {
    cleanup();
    socket.setNoDelay(options.noDelay ?? true);
    result.resolve(new NodeConn(socket, isTls));
  };
  const onError = (error: Error): void => {
    fail(
      isTls && (handshaking || classifySocketError(error, true) === "TLS")
        ? tlsHandshakeError(error, `${options.hostname}:${options.port}`, tlsName(options))
        : toRtmpError(error, doing, isTls),
    );
  };
  const onAbort = (): void => fail(abortedError(doing, signal?.reason));
  const timer = setTimeout(() => fail(timeoutError(doing, timeout)), timeout);
  socket.once(readyEvent, onReady);
  socket.on("error", onError);
  signal?.addEventListener("abort", onAbort, { once: true });
  return result.promise;
}

function listen(options: ListenOptions): Promise<Listener> {
  if (options.proxyProtocol !== undefined) {
    return options.tls === undefined ? proxyListen(options, listen) : listenProxiedTls(options);
  }
  const hostname = options.hostname ?? "0.0.0.0";
  try {
    checkEndpoint(hostname, options.port, "listen", true);
  } catch (error) {
    return Promise.reject(error);
  }
  const isTls = options.tls !== undefined;
  const doing = `listen on ${hostname}:${options.port}`;
  let server: net.Server;
  try {
    server = isTls
      ? tls.createServer({
        cert: options.tls?.cert,
        key: options.tls?.key,
        allowHalfOpen: true,
        handshakeTimeout: tlsHandshakeTimeout(
          options.tls?.handshakeTimeout,
          TLS_HANDSHAKE_TIMEOUT_MS,
        ),
      })
      : net.createServer({ allowHalfOpen: true });
  } catch (error) {
    return Promise.reject(toRtmpError(error, doing, isTls));
  }
  const result = Promise.withResolvers<Listener>();
  const onError = (error: Error): void => {
    server.off("listening", onListening);
    result.reject(toRtmpError(error, doing, isTls));
  };
  const onListening = (): void => {
    server.off("error", onError);
    result.resolve(new NodeListener(server, isTls, options.signal));
  };
  server.once("error", onError);
  server.once("listening", onListening);
  server.listen({ host: hostname, port: options.port, backlog: ACCEPT_BACKLOG * 4 });
  return result.promise;
}

// ---------------------------------------------------------------------------------------------
// PROXY protocol in front of TLS: accept raw TCP, read the header, then start TLS on the socket.

/**
 * Reads a raw socket in paused mode (`'readable'` + `read()`), so that nothing is consumed past
 * what is asked for and the bytes after the header can be put back with `unshift()` for TLS.
 */
function rawSource(socket: net.Socket): HeaderSource & { release(): void } {
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  const notify = (): void => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  const onError = (error: Error): void => {
    failure = error;
    notify();
  };
  socket.on("readable", notify);
  socket.on("end", notify);
  socket.on("close", notify);
  socket.on("error", onError);
  return {
    async read(): Promise<Uint8Array | null> {
      for (;;) {
        const chunk = socket.read() as Uint8Array | null;
        if (chunk !== null) return chunk;
        if (failure !== null) throw toRtmpError(failure, "PROXY header read", false);
        if (socket.readableEnded || socket.destroyed) return null;
        await new Promise<void>((resolve) => wake = resolve);
      }
    },
    close(): void {
      socket.destroy();
      notify();
    },
    release(): void {
      socket.off("readable", notify);
      socket.off("end", notify);
      socket.off("close", notify);
      socket.off("error", onError);
      // The TLS socket takes over the handle; an error left on the raw one must not crash us.
      socket.on("error", ignore);
    },
  };
}

/** Runs the server side of the TLS handshake on an accepted socket, within the usual deadline. */
function serverHandshake(
  socket: net.Socket,
  context: tls.SecureContext,
): Promise<tls.TLSSocket> {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
  return new Promise((resolve, reject) => {
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      secure.off("secure", onSecure);
      secure.destroy();
      socket.destroy();
      reject(error);
    };
    const onSecure = (): void => {
      clearTimeout(timer);
      secure.off("error", fail);
      resolve(secure);
    };
    const timer = setTimeout(
      () => fail(timeoutError("TLS handshake", TLS_HANDSHAKE_TIMEOUT_MS)),
      TLS_HANDSHAKE_TIMEOUT_MS,
    );
    secure.once("secure", onSecure);
    secure.once("error", fail);
    secure.on("error", ignore);
  });
}

/** A `net.Server` whose connections deliver a PROXY header and then run TLS. */
class NodeProxyTlsListener extends QueuedListener {
  readonly addr: NetAddress;

  #server: net.Server;
  #context: tls.SecureContext;
  #settings: ProxyProtocolSettings;
  #pending = 0;
  #stopped = new AbortController();

  constructor(
    server: net.Server,
    context: tls.SecureContext,
    settings: ProxyProtocolSettings,
    signal: AbortSignal | undefined,
  ) {
    super(true);
    this.#server = server;
    this.#context = context;
    this.#settings = settings;
    const bound = server.address();
    this.addr = typeof bound === "object" && bound !== null
      ? { hostname: bound.address, port: bound.port }
      : { hostname: "", port: 0 };
    server.on("connection", this.#onConnection);
    server.on("error", ignore);
    this.watch(signal);
  }

  protected override stop(): void {
    this.#stopped.abort();
    this.#server.close();
  }

  #onConnection = (socket: net.Socket): void => {
    if (!this.queue.hasRoom(this.#pending)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#pending++;
    this.#admit(socket).finally(() => this.#pending--);
  };

  async #admit(socket: net.Socket): Promise<void> {
    const peer = address(socket.remoteAddress, socket.remotePort);
    const source = rawSource(socket);
    let result;
    try {
      result = await readProxyHeader(source, peer, this.#settings, this.#stopped.signal);
    } catch (error) {
      if (!this.#stopped.signal.aborted) reportReject(this.#settings, error, peer);
      return;
    }
    source.release();
    if (result.remainder.length > 0) socket.unshift(result.remainder);
    let secure: tls.TLSSocket;
    try {
      secure = await serverHandshake(socket, this.#context);
    } catch {
      // Like any TLS listener: a client that fails the handshake is dropped (Listener.accept).
      return;
    }
    const conn = new ProxiedConn(new NodeConn(secure, true), result.header, new Uint8Array(0));
    if (!this.queue.push(conn)) conn.close();
  }
}

function listenProxiedTls(options: ListenOptions): Promise<Listener> {
  const hostname = options.hostname ?? "0.0.0.0";
  const doing = `listen on ${hostname}:${options.port}`;
  let settings: ProxyProtocolSettings;
  let context: tls.SecureContext;
  let server: net.Server;
  try {
    checkEndpoint(hostname, options.port, "listen", true);
    settings = proxyProtocolSettings(options.proxyProtocol ?? {});
    context = tls.createSecureContext({ cert: options.tls?.cert, key: options.tls?.key });
    server = net.createServer({ allowHalfOpen: true });
  } catch (error) {
    return Promise.reject(toRtmpError(error, doing, true));
  }
  const result = Promise.withResolvers<Listener>();
  const onError = (error: Error): void => {
    server.off("listening", onListening);
    result.reject(toRtmpError(error, doing, true));
  };
  const onListening = (): void => {
    server.off("error", onError);
    result.resolve(new NodeProxyTlsListener(server, context, settings, options.signal));
  };
  server.once("error", onError);
  server.once("listening", onListening);
  server.listen({ host: hostname, port: options.port, backlog: ACCEPT_BACKLOG * 4 });
  return result.promise;
}

/**
 * The `node:net` / `node:tls` adapter. Usable on Node, Deno and Bun.
 *
 * Reading queues Node's `'data'` chunks and pauses the socket above 256 KiB of unread bytes, so
 * a slow reader holds the peer back through TCP flow control. Each chunk read is freed at the
 * next `read()` (the Conn contract), so a chunk kept longer must be copied. `write()` resolves from Node's write
 * callback (bytes handed to the kernel); writes over 1 MiB go out slice by slice after `'drain'`.
 *
 * @example Echo server
 * ```ts
 * import { nodeAdapter } from "./node.ts";
 * const listener = await nodeAdapter.listen({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const conn of listener) {
 *     for (let c = await conn.read(); c !== null; c = await conn.read()) await conn.write(c);
 *     await conn.closeWrite();
 *   }
 * })();
 * ```
 */
export const nodeAdapter: SocketAdapter = {
  name: "node",
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
