/**
 * Drives one accepted socket through a {@linkcode ServerSession}: reads with timeouts, runs the
 * connect and publish hooks, hands media to publish sessions with backpressure, and closes
 * cleanly. A failure here ends this connection only.
 *
 * @module
 */

import { isRtmpError, RtmpError } from "../errors.ts";
import { splitStreamName } from "../protocol/url.ts";
import type { Conn } from "../socket/types.ts";
import { OutputPump } from "./output_pump.ts";
import { packetFromMessage } from "../protocol/packet.ts";
import { type EndReason, type PublishInfo, PublishSession } from "./publish_session.ts";
import { type ConnectRequest, ServerSession, type ServerSessionEvent } from "./server_session.ts";

/**
 * A hook's answer: `true`/`false`, or an object that can carry the reason and the `onStatus`
 * code sent to the encoder.
 *
 * @example
 * ```ts
 * import type { HookDecision } from "./server_connection.ts";
 * const no: HookDecision = { accept: false, reason: "unknown key", code: "NetStream.Publish.Unauthorized" };
 * ```
 */
export type HookDecision =
  | boolean
  | { accept: true }
  | { accept: false; reason?: string; code?: string };

/**
 * What the connect-stage hook is given.
 *
 * @example
 * ```ts
 * import type { ConnectInfo } from "./server_connection.ts";
 * function allowed(c: ConnectInfo): boolean { return c.app === "live"; }
 * ```
 */
export interface ConnectInfo {
  /** Application name. */
  app: string;
  /** `tcUrl`, or `""`. */
  tcUrl: string;
  /** The parsed connect command. */
  connect: ConnectRequest;
  /** Client address. */
  remoteAddr: Conn["remoteAddr"];
  /** Whether the connection is RTMPS. */
  tls: boolean;
}

/**
 * Limits and timeouts of the server. All times in milliseconds.
 *
 * @example
 * ```ts
 * import type { ServerLimits } from "./server_connection.ts";
 * const strict: Partial<ServerLimits> = { hookTimeout: 2000, maxConnectionsPerIp: 5 };
 * ```
 */
export interface ServerLimits {
  /** Time for the handshake to complete. Default 10 000. */
  handshakeTimeout: number;
  /** Time from accepting the socket until a publish is accepted. Default 30 000. */
  publishTimeout: number;
  /** Time without any byte from the client while we wait for one. Default 30 000. */
  idleTimeout: number;
  /** Time a hook may take before the request is rejected. Default 10 000. */
  hookTimeout: number;
  /** Largest RTMP message. Default 16 MiB. */
  maxMessageSize: number;
  /** Chunk streams per connection. Default 64. */
  maxChunkStreams: number;
  /** Streams one connection may create. Default 8. */
  maxStreamsPerConnection: number;
  /** Connections in total. Default 1000. */
  maxConnections: number;
  /** Connections from one IP address. Default 64. */
  maxConnectionsPerIp: number;
  /** Payload bytes queued per publish session before the publisher is slowed. Default 8 MiB. */
  maxQueuedBytes: number;
  /** Time to wait for the peer's FIN after we closed our side. Default 3 000. */
  lingerTimeout: number;
}

/** The defaults of {@linkcode ServerLimits}. */
export const DEFAULT_LIMITS: ServerLimits = {
  handshakeTimeout: 10_000,
  publishTimeout: 30_000,
  idleTimeout: 30_000,
  hookTimeout: 10_000,
  maxMessageSize: 16 << 20,
  maxChunkStreams: 64,
  maxStreamsPerConnection: 8,
  maxConnections: 1000,
  maxConnectionsPerIp: 64,
  maxQueuedBytes: 8 << 20,
  lingerTimeout: 3_000,
};

/** @internal What a connection needs from the server that owns it. */
export interface ServerContext {
  readonly limits: ServerLimits;
  readonly chunkSize: number;
  onConnect?: (info: ConnectInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  onPublish?: (info: PublishInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  log(line: string): void;
  nextSessionId(): number;
  /** Registers the session under its key; returns a reason to refuse, or null. */
  claim(session: PublishSession, connection: ServerConnection): string | null;
  release(session: PublishSession): void;
  started(session: PublishSession): void;
}

type Decision = { accept: true } | { accept: false; reason: string; code?: string };

/** @internal One accepted socket. */
export class ServerConnection {
  readonly #conn: Conn;
  readonly #ctx: ServerContext;
  readonly #session: ServerSession;
  readonly #pump: OutputPump;
  readonly #publishes = new Map<number, PublishSession>();
  readonly #label: string;
  #deadline = 0;
  #deadlineReason = "";
  #timer: ReturnType<typeof setInterval> | null = null;
  #timedOut = false;
  #reading = false;
  #idleSince = 0;
  #closingReason: EndReason | null = null;
  readonly #abort = new AbortController();

  constructor(conn: Conn, ctx: ServerContext) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#label = `${conn.tls ? "rtmps" : "rtmp"} ${fmtAddr(conn.remoteAddr)}`;
    const limits = ctx.limits;
    this.#session = new ServerSession({
      chunkSize: ctx.chunkSize,
      maxStreams: limits.maxStreamsPerConnection,
      decoder: { maxMessageSize: limits.maxMessageSize, maxChunkStreams: limits.maxChunkStreams },
    });
    this.#pump = new OutputPump(conn, () => this.#session.takeOutput());
    // A reset noticed by the socket while a hook runs (reading is paused then) cancels the hook.
    conn.closed.then(() => this.#abort.abort());
  }

  /** Ends the connection from the server side (server closing, key replaced). */
  shutdown(reason: EndReason): void {
    if (this.#closingReason) return;
    this.#closingReason = reason;
    for (const id of this.#publishes.keys()) {
      this.#session.endPublish(
        id,
        reason === "replaced"
          ? {
            level: "error",
            code: "NetStream.Publish.BadName",
            description: "another publisher took this stream",
          }
          : undefined,
      );
    }
    // End the sessions now: their consumers get what is queued, and a read loop blocked on a
    // full queue (a consumer that stopped reading) is released instead of holding close().
    for (const pub of this.#publishes.values()) this.#endPublish(pub, reason);
    this.#publishes.clear();
    // Flush the goodbyes, then FIN; the read loop ends when the client closes or lingering ends.
    this.#pump.flush().then(() => this.#conn.closeWrite()).catch(() => this.#conn.close());
    this.#setDeadline(this.#ctx.limits.lingerTimeout, "linger");
  }

  /** Runs until the socket is closed. Never rejects. */
  async run(): Promise<void> {
    const limits = this.#ctx.limits;
    this.#setDeadline(limits.handshakeTimeout, "handshake");
    this.#timer = setInterval(() => this.#tick(), 250);
    let endReason: EndReason = "connection-lost";
    try {
      while (true) {
        this.#reading = true;
        this.#idleSince = Date.now();
        const chunk = await this.#conn.read();
        this.#reading = false;
        if (chunk === null) break;
        if (this.#closingReason) continue; // lingering: discard until the peer's FIN
        const events = this.#session.receive(chunk);
        if (events.length > 0 || this.#session.pendingOutput > 0) await this.#handle(events);
        if (this.#closingReason) continue;
      }
      if (this.#timedOut) endReason = "timeout";
    } catch (e) {
      if (this.#timedOut) {
        endReason = "timeout";
      } else if (isRtmpError(e) && isProtocolError(e)) {
        endReason = "protocol-error";
        this.#ctx.log(`${this.#label}: protocol error, closing: ${e.message}`);
      } else if (!isRtmpError(e)) {
        endReason = "protocol-error";
        this.#ctx.log(`${this.#label}: internal error, closing: ${String(e)}`);
      }
    } finally {
      if (this.#timer !== null) clearInterval(this.#timer);
      this.#abort.abort();
      if (this.#timedOut && !this.#closingReason) {
        this.#ctx.log(`${this.#label}: ${this.#deadlineReason} timeout, closing`);
      }
      this.#conn.close();
      for (const pub of this.#publishes.values()) {
        this.#endPublish(pub, this.#closingReason ?? endReason);
      }
      this.#publishes.clear();
    }
  }

  #setDeadline(ms: number, reason: string): void {
    this.#deadline = Date.now() + ms;
    this.#deadlineReason = reason;
  }

  #tick(): void {
    const now = Date.now();
    const idle = this.#reading && this.#publishes.size > 0 &&
      now - this.#idleSince > this.#ctx.limits.idleTimeout;
    if ((this.#deadline > 0 && now > this.#deadline) || idle) {
      if (idle) this.#deadlineReason = "idle";
      this.#timedOut = true;
      this.#conn.close();
    }
  }

  async #handle(events: ServerSessionEvent[]): Promise<void> {
    for (const ev of events) {
      switch (ev.type) {
        case "handshake":
          this.#setDeadline(this.#ctx.limits.publishTimeout, "publish");
          break;
        case "connect":
          await this.#onConnect(ev.request);
          if (this.#closingReason) return;
          break;
        case "publish":
          await this.#onPublish(ev.streamId, ev.streamName, ev.publishType);
          if (this.#closingReason) return;
          break;
        case "media": {
          const pub = this.#publishes.get(ev.streamId);
          const packet = pub ? packetFromMessage(ev.message) : null;
          if (pub && packet) {
            if (this.#session.pendingOutput > 0) await this.#flush();
            await pub.deliver(packet);
          }
          break;
        }
        case "unpublish": {
          const pub = this.#publishes.get(ev.streamId);
          if (pub) {
            this.#publishes.delete(ev.streamId);
            this.#endPublish(pub, "publisher-closed");
          }
          break;
        }
      }
    }
    if (this.#session.pendingOutput > 0) await this.#flush();
  }

  /**
   * Writes queued output. A failed write (the peer is gone) must not stop the events already
   * read from being handled — a publisher that sends FCUnpublish and closes at once still gets
   * a clean `publisher-closed` — so the failure only closes the socket; the read loop then ends.
   */
  async #flush(): Promise<void> {
    try {
      await this.#pump.flush();
    } catch {
      this.#conn.close();
    }
  }

  async #onConnect(request: ConnectRequest): Promise<void> {
    const hook = this.#ctx.onConnect;
    if (hook) {
      const info: ConnectInfo = {
        app: request.app,
        tcUrl: request.tcUrl ?? "",
        connect: request,
        remoteAddr: this.#conn.remoteAddr,
        tls: this.#conn.tls,
      };
      const decision = await this.#decide("connect", (signal) => hook(info, signal));
      if (!decision.accept) {
        this.#ctx.log(`${this.#label}: connect to "${request.app}" rejected: ${decision.reason}`);
        this.#session.rejectConnect(decision.reason);
        await this.#rejectAndClose();
        return;
      }
    }
    this.#session.acceptConnect();
    this.#ctx.log(
      `${this.#label}: connect app="${request.app}" flashVer="${request.flashVer ?? ""}"`,
    );
  }

  async #onPublish(streamId: number, streamName: string, publishType: string): Promise<void> {
    const request = this.#session.connectRequest!;
    const { name, query } = splitStreamName(streamName);
    const info: PublishInfo = {
      app: request.app,
      name,
      streamName,
      query,
      publishType,
      tcUrl: request.tcUrl ?? "",
      connect: request,
      remoteAddr: this.#conn.remoteAddr,
      tls: this.#conn.tls,
    };
    const where = `"${request.app}/${name}"`;
    let decision: Decision;
    if (name === "") {
      decision = { accept: false, reason: "empty stream name" };
    } else if (this.#ctx.onPublish) {
      const hook = this.#ctx.onPublish;
      decision = await this.#decide("publish", (signal) => hook(info, signal));
    } else {
      decision = { accept: true };
    }
    let session: PublishSession | null = null;
    if (decision.accept) {
      session = new PublishSession(
        this.#ctx.nextSessionId(),
        info,
        { kick: (reason) => this.shutdown(reason) },
        this.#ctx.limits.maxQueuedBytes,
      );
      const refusal = this.#ctx.claim(session, this);
      if (refusal) decision = { accept: false, reason: refusal };
    }
    if (!decision.accept || !session) {
      const reason = decision.accept ? "refused" : decision.reason;
      this.#ctx.log(`${this.#label}: publish ${where} rejected: ${reason}`);
      this.#session.rejectPublish(streamId, {
        code: decision.accept ? undefined : decision.code,
        description: reason,
      });
      await this.#rejectAndClose();
      return;
    }
    const more = this.#session.acceptPublish(streamId);
    this.#publishes.set(streamId, session);
    this.#deadline = 0;
    await this.#flush();
    this.#ctx.log(`${this.#label}: publish ${where} accepted (${publishType})`);
    this.#ctx.started(session);
    await this.#handle(more);
  }

  /** Runs a hook with the timeout; a throw, a timeout or a malformed answer is a rejection. */
  async #decide(
    stage: string,
    run: (signal: AbortSignal) => HookDecision | Promise<HookDecision>,
  ): Promise<Decision> {
    const timeout = this.#ctx.limits.hookTimeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The hook's signal aborts when it times out or the connection goes away, so a database or
    // HTTP lookup inside it can be cancelled.
    const hookAbort = new AbortController();
    const onConnectionGone = (): void => hookAbort.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener("abort", onConnectionGone, { once: true });
    try {
      const answer = await Promise.race([
        Promise.resolve(hookAbort.signal).then(run),
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => {
            hookAbort.abort(
              new RtmpError("TIMEOUT", `${stage} hook timed out after ${timeout} ms`),
            );
            resolve("timeout");
          }, timeout);
        }),
      ]);
      if (answer === "timeout") {
        return { accept: false, reason: `${stage} hook timed out after ${timeout} ms` };
      }
      if (answer === true) return { accept: true };
      if (answer === false) return { accept: false, reason: `${stage} hook refused` };
      if (answer && typeof answer === "object" && answer.accept === true) return { accept: true };
      if (answer && typeof answer === "object" && answer.accept === false) {
        return {
          accept: false,
          reason: answer.reason ?? `${stage} hook refused`,
          code: answer.code,
        };
      }
      return { accept: false, reason: `${stage} hook returned an invalid decision` };
    } catch (e) {
      return {
        accept: false,
        reason: `${stage} hook failed: ${e instanceof Error ? e.message : String(e)}`,
      };
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener("abort", onConnectionGone);
    }
  }

  /** Sends what is queued (the error status), then FIN; keeps reading until the peer closes. */
  async #rejectAndClose(): Promise<void> {
    this.#closingReason = "protocol-error";
    try {
      await this.#pump.flush();
      await this.#conn.closeWrite();
    } catch {
      this.#conn.close();
    }
    this.#setDeadline(this.#ctx.limits.lingerTimeout, "linger");
    this.#timedOut = false;
  }

  #endPublish(pub: PublishSession, reason: EndReason): void {
    if (pub.endReason) return;
    pub.finish(reason);
    this.#ctx.release(pub);
    const s = pub.stats();
    this.#ctx.log(
      `${this.#label}: unpublish "${pub.app}/${pub.name}" (${reason}) after ${
        (s.duration / 1000).toFixed(1)
      } s, ` +
        `${s.bytes} bytes, ${Math.round(s.bitrate / 1000)} kbit/s`,
    );
  }
}

function isProtocolError(e: RtmpError): boolean {
  return e.code === "MALFORMED" || e.code === "PROTOCOL" || e.code === "LIMIT_EXCEEDED" ||
    e.code === "HANDSHAKE_FAILED" || e.code === "UNSUPPORTED";
}

function fmtAddr(a: { hostname: string; port: number }): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}
