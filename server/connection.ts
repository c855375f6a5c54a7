/**
 * Drives one accepted socket through a {@linkcode ServerSession}: reads, deadlines (on the
 * server-wide clock), the connect / publish / play hooks, publishing into the stream hub with
 * backpressure, and pumping hub subscribers to players. A failure here ends this connection only.
 *
 * @module
 */

import { isRtmpError, RtmpError } from "../errors.ts";
import type { StatusInfo } from "../protocol/status.ts";
import { splitStreamName } from "../protocol/url.ts";
import { acceptsFourCc } from "../protocol/capabilities.ts";
import { HubMessage } from "../hub/hub_message.ts";
import type { LiveStream } from "../hub/live_stream.ts";
import type { StreamHub } from "../hub/stream_hub.ts";
import type { Subscriber } from "../hub/subscriber.ts";
import {
  type ConnectRequest,
  type PlayRequest,
  ServerSession,
  type ServerSessionEvent,
} from "../session/server_session.ts";
import type { Conn } from "../socket/types.ts";
import type { BlockPool } from "../protocol/block_pool.ts";
import type { ByteBudget } from "../protocol/byte_budget.ts";
import type { ConnectAuth } from "./auth.ts";
import type { DeadlineClock, DeadlineOwner } from "./deadlines.ts";
import { decide, type Decision } from "./decide.ts";
import { supportsReconnect } from "./drain.ts";
import { OutputPump } from "../util/output_pump.ts";
import { nativeHmacSha256 } from "../util/native_hmac.ts";
import type { RefusalCause, ServerEvent } from "./events.ts";
import { PublishSession } from "./publish_session.ts";
import { type Player, type PlayerHost, PlayerPump } from "./player_pump.ts";
import type { ConnectionView } from "./stats.ts";
import type {
  ConnectInfo,
  EndReason,
  HookDecision,
  PlayInfo,
  PublishInfo,
  ServerLimits,
} from "./types.ts";

/** @internal What a connection needs from the server that owns it. */
export interface ServerContext {
  readonly limits: ServerLimits;
  readonly chunkSize: number;
  readonly hub: StreamHub;
  /** The server-wide budget for bytes of messages still arriving or held. */
  readonly budget: ByteBudget;
  /** Blocks for partial messages, charged to `budget` and shared by every connection. */
  readonly pool: BlockPool;
  /** The server-wide pool of small blocks for messages' first bytes. */
  readonly headPool: BlockPool;
  readonly clock: DeadlineClock;
  /** Whether `play` is served at all. */
  readonly playback: boolean;
  onConnect?: (info: ConnectInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  onPublish?: (info: PublishInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  onPlay?: (info: PlayInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  /** `authmod` login, run on every connect before `onConnect`. */
  readonly auth?: ConnectAuth;
  log(line: string): void;
  nextSessionId(): number;
  /** The connection publishes or plays for the first time; returns a reason to refuse, or null. */
  goLive(connection: ServerConnection): string | null;
  /**
   * Registers the session under its key; returns a reason to refuse, or null; or, when the
   * key's live publisher has sent nothing since `askedAt` but is not stale yet, when to ask again.
   */
  claim(
    session: PublishSession,
    connection: ServerConnection,
    askedAt: number,
  ): string | null | { retryIn: number };
  release(session: PublishSession): void;
  started(session: PublishSession, push: string[]): void;
  /** Counts a player in; returns a reason to refuse, or null. */
  admitPlayer(ip: string, stream: LiveStream): string | null;
  /** Starts an on-demand pull relay of a key that is not live, when one is configured. */
  ensureRelay(key: string): void;
  /** Counts a player out. */
  playerLeft(ip: string, key: string): void;
  /** Hands an event to the server's events and counters. */
  emit(event: ServerEvent): void;
  nextConnectionId(): number;
  /** The connection's run() ends (called once, last): it leaves the server's books. */
  ended(connection: ServerConnection): void;
  /** Whether the server is draining or closing (refusals then say `shutting-down`). */
  stopping(): boolean;
}

/** A hook's or the server's decision, with the refusal's cause for events and metrics. */
type Verdict = Decision & { cause?: RefusalCause };

/** A playing stream of this connection. */

/** Bytes of media on streams that are not publishing tolerated before the connection fails. */
const MAX_STRAY_MEDIA = 1 << 20;
/** Unknown calls answered per connection before it is closed. */
const MAX_UNKNOWN_CALLS = 256;
/** What a chunk read while lingering yields. */
const NO_EVENTS = Object.freeze([]) as unknown as ServerSessionEvent[];

/** What a connection publishes on one stream. */
interface Publishing {
  session: PublishSession;
  stream: LiveStream;
}

/**
 * The map of a connection that publishes or plays nothing (most of them, at any time): shared,
 * so an idle connection holds no table of its own. Reads and deletes on it are no-ops; the one
 * `set` site of each map swaps in a connection's own map first (a `set` here would be a bug).
 */
const NONE: Map<number, never> = new (class extends Map<number, never> {
  override set(): never {
    throw new Error("ServerConnection: the shared empty map was written to");
  }
})();

/** @internal One accepted socket. */
export class ServerConnection implements DeadlineOwner {
  /** The server's number for this connection (events, stats). */
  readonly id: number;
  readonly #conn: Conn;
  readonly #ctx: ServerContext;
  readonly #session: ServerSession;
  readonly #pump: OutputPump;
  #publishes: Map<number, Publishing> = NONE;
  #players: Map<number, Player> = NONE;
  readonly #label: string;
  readonly #ip: string;
  #deciding = 0;
  /** The server-wide clock's view of this connection. */
  deadline = 0;
  #startBy = 0;
  #acceptedAt = 0;
  #startWhat = "handshake";
  #lingerBy = 0;
  #lastRead = 0;
  #timedOut = "";
  #closingReason: EndReason | null = null;
  #strayBytes = 0;
  #unknownCalls = 0;
  /** The user name this connection logged in as (`auth`), or null. */
  #user: string | null = null;
  /** Made when a hook or a wait first needs a signal (an idle connection never does). */
  #abort: AbortController | null = null;
  /** Whether run() has ended (a signal made after that starts aborted). */
  #ended = false;
  #tasks: Set<Promise<void>> | null = null;

  constructor(conn: Conn, ctx: ServerContext) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.id = ctx.nextConnectionId();
    this.#ip = conn.remoteAddr.hostname;
    this.#label = `${conn.tls ? "rtmps" : "rtmp"} ${fmtAddr(conn.remoteAddr)}`;
    const limits = ctx.limits;
    this.#session = new ServerSession({
      chunkSize: ctx.chunkSize,
      maxStreams: limits.maxStreamsPerConnection,
      maxMediaMessageSize: limits.maxMessageSize,
      hmac: nativeHmacSha256,
      decoder: {
        maxMessageSize: Math.min(limits.maxCommandSize, limits.maxMessageSize),
        maxChunkStreams: limits.maxChunkStreams,
        maxPartialBytes: limits.maxPartialBytesPerConnection,
        budget: ctx.budget,
        pool: ctx.pool,
        headPool: ctx.headPool,
      },
    });
    this.#pump = new OutputPump(conn, this.#session);
  }

  /** Aborted when the connection goes away: hooks and waits get it. */
  get #signal(): AbortSignal {
    if (this.#abort === null) {
      const abort = this.#abort = new AbortController();
      if (this.#ended) abort.abort();
      // A reset noticed by the socket while a hook runs (reading is paused then) cancels it.
      else this.#conn.closed.then(() => abort.abort());
    }
    return this.#abort.signal;
  }

  #host: PlayerHost | null = null;

  /** What this connection's player pumps need (made on the first play). */
  get #playerHost(): PlayerHost {
    return this.#host ??= {
      session: this.#session,
      pump: this.#pump,
      signalled: () => this.#schedule(),
      failed: (e) => {
        if (!isRtmpError(e)) this.#ctx.log(`${this.#label}: internal error: ${String(e)}`);
        this.#conn.close();
      },
    };
  }

  /** A label for logs: protocol and peer address. */
  get label(): string {
    return this.#label;
  }

  /** The peer's IP address. */
  get ip(): string {
    return this.#ip;
  }

  /** Whether a hook is deciding one of this connection's requests. */
  get deciding(): boolean {
    return this.#deciding > 0;
  }

  /**
   * Milliseconds since the last byte arrived.
   * @param now Current time.
   * @returns The silence.
   */
  silentFor(now: number): number {
    return now - this.#lastRead;
  }

  /** What stats and drains see of this connection. @returns A snapshot. */
  view(): ConnectionView & { tcUrl: string; capsEx: number } {
    const c = this.#session.connectRequest;
    const capsEx = typeof c?.capsEx === "number" ? c.capsEx : 0;
    return {
      app: c?.app ?? null,
      flashVer: c?.flashVer ?? null,
      tcUrl: c?.tcUrl ?? "",
      capsEx,
      reconnect: supportsReconnect(capsEx),
      publishing: [...this.#publishes.values()].map((p) => p.session.key),
      playing: [...this.#players.values()].map((p) => p.key),
      closing: this.#closingReason !== null,
    };
  }

  /**
   * Sends an E-RTMP ReconnectRequest (drain) and flushes it; the connection goes on as before.
   * @param tcUrl Where to reconnect, or the client's own tcUrl.
   * @param description Text for the client.
   */
  async requestReconnect(tcUrl: string | undefined, description: string): Promise<void> {
    if (this.#closingReason) return;
    this.#session.requestReconnect(tcUrl, description);
    await this.#flush();
  }

  /** When the last byte arrived, or the socket was accepted (ms since epoch). */
  get lastReadAt(): number {
    return this.#lastRead;
  }

  /** Whether `connect` was accepted. */
  get connected(): boolean {
    return this.#session.state === "connected";
  }

  /** Bytes this connection holds against the server-wide budget. */
  get partialBytes(): number {
    return this.#session.channel.partialBytes;
  }

  /**
   * Closes the connection to give its memory back (the server-wide budget ran out and it
   * holds the most). What it held is released at once.
   * @param why For the log.
   */
  evictForMemory(why: string): void {
    this.#ctx.log(`${this.#label}: closed to free memory (${why})`);
    this.#closingReason ??= "protocol-error";
    this.#session.close();
    this.#conn.close();
  }

  /** Closes a connection that never published or played, to make room for a new one. */
  evict(): void {
    this.#timedOut = "";
    this.#closingReason ??= "protocol-error";
    this.#conn.close();
  }

  /** Ends the connection from the server side (server closing, key replaced). */
  shutdown(reason: EndReason): void {
    if (this.#closingReason) return;
    this.#closingReason = reason;
    for (const id of this.#publishes.keys()) {
      this.#session.endPublish(id, reason === "replaced" ? REPLACED_STATUS : undefined);
    }
    // End the sessions now: their consumers get what is queued, and a read loop blocked on a
    // full queue (a consumer that stopped reading) is released instead of holding close().
    for (const pub of this.#publishes.values()) this.#endPublish(pub, reason);
    this.#publishes.clear();
    for (const p of this.#players.values()) {
      this.#session.endPlay(p.streamId);
      this.#endPlayer(p, reason === "server-closed" ? "server closing" : reason);
    }
    // Flush the goodbyes, then FIN; the read loop ends when the client closes or lingering ends.
    this.#pump.flush().then(() => this.#conn.closeWrite()).catch(() => this.#conn.close());
    this.#lingerBy = Date.now() + this.#ctx.limits.lingerTimeout;
    this.#schedule();
  }

  /**
   * Runs until the socket is closed. Never rejects. The loop is all that stays suspended while
   * a connection is idle, so it is kept small: a suspended async function holds a register for
   * every local of its body, for each of thousands of idle connections.
   */
  async run(): Promise<void> {
    this.#start();
    let endReason: EndReason = "connection-lost";
    try {
      while (true) {
        // The chunk is consumed inside #receive: a suspended async function keeps its registers,
        // and the last chunk (a view of the socket's old, bigger read buffer on Deno) would stay
        // alive with an idle connection.
        const events = this.#receive(await this.#conn.read());
        if (events === null) break;
        if (events.length > 0 || this.#session.pendingOutput > 0) await this.#handle(events);
      }
      if (this.#timedOut) endReason = "timeout";
    } catch (e) {
      endReason = this.#failed(e);
    } finally {
      await this.#finish(endReason);
    }
  }

  #start(): void {
    const limits = this.#ctx.limits;
    this.#acceptedAt = Date.now();
    this.#lastRead = this.#acceptedAt;
    this.#startBy = this.#acceptedAt + Math.min(limits.handshakeTimeout, limits.publishTimeout);
    this.#schedule();
    this.#ctx.clock.add(this);
  }

  /** Why the read loop's failure `e` ends the connection (logged). */
  #failed(e: unknown): EndReason {
    if (this.#timedOut) return "timeout";
    if (isRtmpError(e) && isProtocolError(e)) {
      this.#ctx.log(`${this.#label}: protocol error, closing: ${e.message}`);
      this.#event({ type: "protocol-error", message: e.message });
      return "protocol-error";
    }
    if (!isRtmpError(e)) {
      this.#ctx.log(`${this.#label}: internal error, closing: ${String(e)}`);
      return "protocol-error";
    }
    return "connection-lost";
  }

  /** Ends what the connection had going, waits for its tasks, and reports it ended. */
  async #finish(endReason: EndReason): Promise<void> {
    this.#ctx.clock.remove(this);
    this.#ended = true;
    this.#abort?.abort();
    if (this.#timedOut && !this.#closingReason) {
      this.#ctx.log(`${this.#label}: ${this.#timedOut} timeout, closing`);
    }
    this.#session.close();
    this.#conn.close();
    for (const pub of this.#publishes.values()) {
      this.#endPublish(pub, this.#closingReason ?? endReason);
    }
    this.#publishes.clear();
    for (const p of this.#players.values()) this.#endPlayer(p, "connection closed");
    while (this.#tasks !== null && this.#tasks.size > 0) {
      await Promise.allSettled([...this.#tasks]);
    }
    this.#ctx.ended(this);
  }

  /** Feeds a chunk read to the session; null at the end of the stream. */
  #receive(chunk: Uint8Array | null): ServerSessionEvent[] | null {
    if (chunk === null) return null;
    this.#lastRead = Date.now();
    if (this.#closingReason) return NO_EVENTS; // lingering: discard until the peer's FIN
    return this.#session.receive(chunk);
  }

  /** Recomputes the next deadline from the connection's state. */
  #schedule(): void {
    let next = 0;
    const at = (t: number): void => {
      if (t > 0 && (next === 0 || t < next)) next = t;
    };
    if (this.#lingerBy) at(this.#lingerBy);
    else {
      at(this.#startBy);
      if (this.#publishes.size > 0) at(this.#lastRead + this.#ctx.limits.idleTimeout);
      for (const p of this.#players.values()) {
        if (p.unpublishedAt) at(p.unpublishedAt + this.#ctx.limits.unpublishedPlayerTimeout);
      }
    }
    this.deadline = next;
  }

  /** Called by the server-wide clock when {@linkcode ServerConnection.deadline} has passed. */
  expire(now: number): void {
    const limits = this.#ctx.limits;
    if (this.#lingerBy) {
      if (now >= this.#lingerBy) this.#timeout("linger");
    } else if (this.#startBy && now >= this.#startBy) {
      this.#timeout(this.#startWhat);
    } else if (this.#publishes.size > 0 && now - this.#lastRead >= limits.idleTimeout) {
      this.#timeout("idle");
    } else {
      for (const p of [...this.#players.values()]) {
        if (p.unpublishedAt && now - p.unpublishedAt >= limits.unpublishedPlayerTimeout) {
          this.#session.endPlay(p.streamId);
          this.#endPlayer(p, "publisher did not come back");
          void this.#flush();
        }
      }
      if (this.#players.size === 0 && this.#publishes.size === 0 && !this.#startBy) {
        // Nothing left on this connection: a viewer whose stream went away for good. Its
        // Play.Stop (queued above) goes out before the FIN; lingering bounds a peer that
        // does not read.
        this.#lingerBy = now + limits.lingerTimeout;
        this.#pump.flush().then(() => this.#conn.closeWrite()).catch(() => this.#conn.close());
      }
    }
    this.#schedule();
  }

  #timeout(what: string): void {
    this.#timedOut = what;
    this.#conn.close();
  }

  async #handle(events: ServerSessionEvent[]): Promise<void> {
    for (const ev of events) {
      switch (ev.type) {
        case "handshake":
          // The publish budget counts from accept, not from the end of the handshake.
          this.#startWhat = "publish";
          this.#startBy = this.#acceptedAt + this.#ctx.limits.publishTimeout;
          this.#schedule();
          break;
        case "connect-request":
          await this.#onConnect(ev.id, ev.request);
          if (this.#closingReason) return;
          break;
        case "publish-request":
          await this.#onPublish(ev.id, ev.streamId, ev.streamName, ev.publishType);
          if (this.#closingReason) return;
          break;
        case "play-request":
          await this.#onPlay(ev.id, ev.streamId, ev.request);
          if (this.#closingReason) return;
          break;
        case "media": {
          const pub = this.#publishes.get(ev.streamId);
          if (!pub) break;
          const m = HubMessage.from(ev.message);
          pub.session.count(m);
          const wait = pub.stream.publish(m);
          if (wait) {
            if (this.#session.pendingOutput > 0) await this.#flush();
            await wait;
          }
          break;
        }
        case "stray-media":
          this.#strayBytes += ev.bytes;
          if (this.#strayBytes > MAX_STRAY_MEDIA) {
            throw new RtmpError(
              "PROTOCOL",
              `more than ${MAX_STRAY_MEDIA} bytes of media on streams that are not publishing`,
            );
          }
          break;
        case "unpublish": {
          const pub = this.#publishes.get(ev.streamId);
          if (pub) {
            this.#publishes.delete(ev.streamId);
            this.#endPublish(pub, "publisher-closed");
          }
          break;
        }
        case "play-stop": {
          const p = this.#players.get(ev.streamId);
          if (p) this.#endPlayer(p, `player sent ${ev.command}`);
          break;
        }
        case "pause": {
          const p = this.#players.get(ev.streamId);
          p?.sub.setPaused(ev.paused);
          break;
        }
        case "receive": {
          const p = this.#players.get(ev.streamId);
          p?.sub.setReceive(ev.kind, ev.enabled);
          break;
        }
        case "command":
          // Calls we do not know are answered, but only so many: a peer that floods them is
          // not worth an answer each (issue 13 §5).
          if (++this.#unknownCalls > MAX_UNKNOWN_CALLS) {
            throw new RtmpError("LIMIT_EXCEEDED", `more than ${MAX_UNKNOWN_CALLS} unknown calls`);
          }
          this.#session.sendError(ev, {
            level: "error",
            code: "NetConnection.Call.Failed",
            description: `Method not found (${ev.command.name}).`,
          });
          break;
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

  async #onConnect(id: number, request: ConnectRequest): Promise<void> {
    const auth = this.#ctx.auth;
    if (auth) {
      // Before anything else: the hooks and logs below see the clean app (auth.check rewrites
      // the request in place) and the user name.
      const verdict = await auth.check(request, {
        label: this.#label,
        remoteAddr: this.#conn.remoteAddr,
        tls: this.#conn.tls,
        decide: (run) => this.#decide("connect", run),
      });
      if (!verdict.accept) {
        this.#session.reject(id, { code: verdict.code, description: verdict.description });
        await this.#rejectAndClose();
        return;
      }
      this.#user = verdict.user;
    }
    const hook = this.#ctx.onConnect;
    if (hook) {
      const info: ConnectInfo = {
        app: request.app,
        tcUrl: request.tcUrl ?? "",
        connect: request,
        remoteAddr: this.#conn.remoteAddr,
        tls: this.#conn.tls,
        user: this.#user,
      };
      const decision = await this.#decide("connect", (signal) => hook(info, signal));
      if (!decision.accept) {
        this.#ctx.log(`${this.#label}: connect to "${request.app}" rejected: ${decision.reason}`);
        this.#event({
          type: "connect-refused",
          app: request.app,
          cause: causeOf(decision),
          reason: decision.reason,
        });
        this.#session.reject(id, { code: decision.code, description: decision.description });
        await this.#rejectAndClose();
        return;
      }
    }
    this.#session.accept(id);
    this.#ctx.log(
      `${this.#label}: connect app="${request.app}" flashVer="${request.flashVer ?? ""}"`,
    );
    this.#event({
      type: "connect",
      app: request.app,
      tcUrl: request.tcUrl ?? "",
      flashVer: request.flashVer ?? "",
      reconnect: this.view().reconnect,
    });
  }

  async #onPublish(
    id: number,
    streamId: number,
    streamName: string,
    publishType: string,
  ): Promise<void> {
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
      user: this.#user,
    };
    const key = `${request.app}/${name}`;
    let decision: Verdict;
    if (name === "") {
      decision = refusal(
        "empty stream name",
        "The stream name (key) is empty.",
        undefined,
        "empty-name",
      );
    } else if (this.#ctx.onPublish) {
      const hook = this.#ctx.onPublish;
      decision = await this.#decide("publish", (signal) => hook(info, signal));
    } else {
      decision = { accept: true };
    }
    let session: PublishSession | null = null;
    const stream = this.#ctx.hub.open(key);
    if (decision.accept) {
      const full = this.#ctx.goLive(this);
      if (full) {
        decision = refusal(
          full,
          "The server is full; try again later.",
          "NetStream.Publish.Failed",
          "limit",
        );
      }
    }
    if (decision.accept) {
      session = new PublishSession(
        this.#ctx.nextSessionId(),
        info,
        { kick: (reason) => this.shutdown(reason) },
        stream,
        this.#ctx.limits.maxQueuedBytes,
      );
      const refused = await this.#claim(session);
      if (refused) {
        const mine = [...this.#publishes.values()].some((p) => p.session.key === key);
        decision = this.#ctx.stopping()
          ? refusal(
            refused,
            "The server is shutting down; try again.",
            "NetStream.Publish.Failed",
            "shutting-down",
          )
          : refusal(
            refused,
            mine
              ? "This stream key is already published on this connection."
              : "This stream key is already live from another connection.",
            undefined,
            "duplicate",
          );
      }
    }
    if (!decision.accept || !session) {
      const d = decision as Verdict & { accept: false };
      this.#ctx.log(`${this.#label}: publish "${key}" rejected: ${d.reason}`);
      this.#event({
        type: "publish-refused",
        key,
        cause: causeOf(d),
        reason: d.reason,
        code: d.code ?? "NetStream.Publish.BadName",
      });
      const more = this.#session.reject(id, { code: d.code, description: d.description });
      // Another stream of this connection may be live: keep it, refuse only this one, and handle
      // what arrived for it while this was decided (its media was held, not dropped).
      if (this.#publishes.size > 0 || this.#players.size > 0) {
        await this.#flush();
        await this.#handle(more);
        return;
      }
      await this.#rejectAndClose();
      return;
    }
    const more = this.#session.accept(id);
    if (this.#publishes === NONE) this.#publishes = new Map();
    this.#publishes.set(streamId, { session, stream });
    this.#startBy = 0;
    this.#schedule();
    stream.start(Date.now(), session);
    await this.#flush();
    this.#ctx.log(`${this.#label}: publish "${key}" accepted (${publishType})`);
    this.#event({ type: "publish", sessionId: session.id, key, publishType });
    this.#ctx.started(session, decision.push ?? []);
    await this.#handle(more);
  }

  async #onPlay(id: number, streamId: number, request: PlayRequest): Promise<void> {
    const connect = this.#session.connectRequest!;
    const { name, query } = splitStreamName(request.streamName);
    const key = `${connect.app}/${name}`;
    let decision: Verdict;
    if (!this.#ctx.playback) {
      decision = refusal(
        "playback is disabled",
        "Playback is not available on this server.",
        undefined,
        "playback-disabled",
      );
    } else if (name === "") {
      decision = refusal("empty stream name", "The stream name is empty.", undefined, "empty-name");
    } else if (this.#ctx.onPlay) {
      const hook = this.#ctx.onPlay;
      const info: PlayInfo = {
        app: connect.app,
        name,
        streamName: request.streamName,
        query,
        tcUrl: connect.tcUrl ?? "",
        protocol: "rtmp",
        connect,
        request,
        remoteAddr: this.#conn.remoteAddr,
        tls: this.#conn.tls,
        user: this.#user,
      };
      decision = await this.#decide("play", (signal) => hook(info, signal));
    } else {
      decision = { accept: true };
    }
    const stream = this.#ctx.hub.open(key);
    if (decision.accept) {
      const full = this.#ctx.goLive(this);
      if (full) {
        decision = refusal(full, "The server is full; try again later.", undefined, "limit");
      }
    }
    if (decision.accept) this.#ctx.ensureRelay(key);
    if (decision.accept) {
      const refused = this.#ctx.admitPlayer(this.#ip, stream);
      const cause = this.#ctx.stopping() ? "shutting-down" : "limit";
      if (refused) {
        decision = refusal(refused, "Too many viewers, try again later.", undefined, cause);
      }
    }
    if (!decision.accept) {
      this.#ctx.log(`${this.#label}: play "${key}" refused: ${decision.reason}`);
      this.#event({
        type: "play-refused",
        key,
        protocol: "rtmp",
        cause: causeOf(decision),
        reason: decision.reason,
      });
      const more = this.#session.reject(id, {
        code: decision.code ?? "NetStream.Play.Failed",
        description: decision.description,
      });
      // The stream may have been opened just for this request.
      stream.dropIfIdle();
      if (this.#publishes.size > 0 || this.#players.size > 0) {
        await this.#flush();
        await this.#handle(more);
        return;
      }
      await this.#rejectAndClose();
      return;
    }
    const limits = this.#ctx.limits;
    const player: Player = {
      streamId,
      key,
      sub: null as unknown as Subscriber,
      unpublishedAt: 0,
      startedAt: Date.now(),
      skipPublishSignal: false,
      ended: false,
    };
    player.sub = stream.subscribe({
      policy: "drop",
      maxBytes: limits.playerQueueBytes,
      hardMaxBytes: limits.playerQueueHardBytes,
      label: this.#label,
    }, (reason) => {
      if (player.ended) return;
      // The drop policy gave up on this player (hard bound): it cannot keep up.
      this.#ctx.log(`${this.#label}: player of "${key}" disconnected: ${reason}`);
      this.#endPlayer(player, reason);
      this.#conn.close();
    });
    if (this.#players === NONE) this.#players = new Map();
    this.#players.set(streamId, player);
    this.#startBy = 0;
    this.#schedule();
    if (!stream.live) {
      // Wait for a publisher without holding the read loop: the player may hang up meanwhile.
      this.#track(this.#awaitPublisher(id, player, stream));
      return;
    }
    await this.#startPlay(id, player);
  }

  async #awaitPublisher(id: number, player: Player, stream: LiveStream): Promise<void> {
    const limits = this.#ctx.limits;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limits.playWaitTimeout);
    });
    const gone = new Promise<"gone">((resolve) =>
      this.#signal.addEventListener("abort", () => resolve("gone"), { once: true })
    );
    const result = await Promise.race([
      player.sub.wait().then(() => "live" as const),
      timedOut,
      gone,
    ]);
    clearTimeout(timer);
    if (result === "gone" || player.ended) return;
    if (result === "timeout" || !stream.live) {
      this.#ctx.log(`${this.#label}: play "${player.key}" refused: not live`);
      this.#event({
        type: "play-refused",
        key: player.key,
        protocol: "rtmp",
        cause: "not-live",
        reason: "not live",
      });
      this.#endPlayer(player, "not live");
      let more: ServerSessionEvent[];
      try {
        more = this.#session.reject(id, {
          code: "NetStream.Play.StreamNotFound",
          description: `${player.key.slice(player.key.indexOf("/") + 1)} is not live.`,
        });
      } catch {
        return;
      }
      // As for a refused play: keep a connection that still has other streams, close one that
      // has nothing left (no deadline would ever end it).
      if (this.#publishes.size > 0 || this.#players.size > 0) {
        await this.#flush();
        if (more.length > 0) await this.#handle(more);
        return;
      }
      await this.#rejectAndClose();
      return;
    }
    player.skipPublishSignal = true;
    await this.#startPlay(id, player);
  }

  async #startPlay(id: number, player: Player): Promise<void> {
    const more = this.#session.accept(id);
    await this.#flush();
    this.#ctx.log(`${this.#label}: play "${player.key}" started`);
    this.#event({ type: "play", key: player.key, protocol: "rtmp" });
    this.#warnUnannounced(player);
    new PlayerPump(player, this.#playerHost).start();
    if (more.length > 0) await this.#handle(more);
  }

  /**
   * A legacy player (or one that announced other codecs) still gets the tags as published;
   * the log says so, because it will likely not decode them (E-RTMP v1 "fourCcList").
   */
  #warnUnannounced(player: Player): void {
    const connect = this.#session.connectRequest;
    const stream = this.#ctx.hub.get(player.key);
    if (!connect || !stream) return;
    const codecs = stream.enhancedCodecs();
    const missing = [
      ...codecs.video.filter((c) => !acceptsFourCc(connect, "video", c)),
      ...codecs.audio.filter((c) => !acceptsFourCc(connect, "audio", c)),
    ];
    if (missing.length > 0) {
      this.#ctx.log(
        `${this.#label}: player of "${player.key}" did not announce ${missing.join(", ")} ` +
          "(Enhanced RTMP); it gets them as published and may not decode them",
      );
    }
  }

  #endPlayer(p: Player, reason: string): void {
    if (p.ended) return;
    p.ended = true;
    this.#players.delete(p.streamId);
    const s = p.sub.stats();
    p.sub.close(reason);
    this.#ctx.playerLeft(this.#ip, p.key);
    this.#event({
      type: "stop",
      key: p.key,
      protocol: "rtmp",
      reason,
      duration: Date.now() - p.startedAt,
      stats: s,
    });
    this.#ctx.log(
      `${this.#label}: play "${p.key}" ended (${reason}) after ${
        ((Date.now() - p.startedAt) / 1000).toFixed(1)
      } s, ${s.messages} messages, ${s.droppedMessages} dropped in ${s.dropEpisodes} episodes`,
    );
    this.#schedule();
  }

  #track(task: Promise<void>): void {
    const t = task.catch((e) => {
      this.#ctx.log(`${this.#label}: internal error: ${String(e)}`);
      this.#conn.close();
    });
    const tasks = this.#tasks ??= new Set();
    tasks.add(t);
    t.finally(() => tasks.delete(t));
  }

  /** Emits an event of this connection (time, id and address added). */
  #event(e: DistributiveOmit<ServerEvent, "time" | "connectionId" | "remoteAddr">): void {
    this.#ctx.emit(
      {
        ...e,
        time: Date.now(),
        connectionId: this.id,
        remoteAddr: this.#conn.remoteAddr,
      } as ServerEvent,
    );
  }

  /**
   * Claims the key, waiting (at most `stalePublisherTimeout`) while the server holds the request
   * to see whether the key's live publisher is frozen. Returns a reason to refuse, or null.
   */
  async #claim(session: PublishSession): Promise<string | null> {
    const askedAt = Date.now();
    let answer = this.#ctx.claim(session, this, askedAt);
    if (typeof answer !== "object" || answer === null) return answer;
    return await this.#waiting(async () => {
      const signal = this.#signal;
      while (typeof answer === "object" && answer !== null) {
        await new Promise((resolve) =>
          setTimeout(resolve, (answer as { retryIn: number }).retryIn)
        );
        if (signal.aborted) return "the connection went away";
        answer = this.#ctx.claim(session, this, askedAt);
      }
      return answer;
    });
  }

  /** Runs a hook with the timeout; a throw, a timeout or a malformed answer is a refusal. */
  #decide(
    stage: "connect" | "publish" | "play",
    run: (signal: AbortSignal) => HookDecision | Promise<HookDecision>,
  ): Promise<Decision> {
    return this.#waiting(async () => {
      const d = await decide(stage, run, this.#ctx.limits.hookTimeout, this.#signal);
      if (!d.accept && d.failed) {
        this.#event({
          type: d.timedOut ? "hook-timeout" : "hook-failure",
          stage,
          reason: d.reason,
        });
      }
      return d;
    });
  }

  /** Runs `work` with the publish deadline paused: waiting on the server is not idling. */
  async #waiting<T>(work: () => Promise<T>): Promise<T> {
    // Time in a hook does not count against the publish deadline: the hook has its own.
    const left = this.#startBy ? Math.max(this.#startBy - Date.now(), 1000) : 0;
    this.#startBy = 0;
    this.#deciding++;
    this.#schedule();
    try {
      return await work();
    } finally {
      this.#deciding--;
      if (left && this.#publishes.size === 0 && this.#players.size === 0) {
        this.#startBy = Date.now() + left;
      }
      this.#schedule();
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
    this.#lingerBy = Date.now() + this.#ctx.limits.lingerTimeout;
    this.#schedule();
  }

  #endPublish(pub: Publishing, reason: EndReason): void {
    const session = pub.session;
    pub.stream.stop(session);
    if (session.endReason) return;
    session.finish(reason);
    this.#ctx.release(session);
    const s = session.stats();
    this.#event({ type: "unpublish", sessionId: session.id, key: session.key, reason, stats: s });
    this.#ctx.log(
      `${this.#label}: unpublish "${session.key}" (${reason}) after ${
        (s.duration / 1000).toFixed(1)
      } s, ${s.payloadBytes} bytes, ${Math.round(s.bitrate / 1000)} kbit/s`,
    );
  }
}

/** Status a server-side end sends to a publisher that was replaced. */
const REPLACED_STATUS: StatusInfo = {
  level: "error",
  code: "NetStream.Publish.BadName",
  description: "another publisher took this stream",
};

function refusal(
  reason: string,
  description: string,
  code?: string,
  cause?: RefusalCause,
): Verdict {
  return { accept: false, reason, description, code, cause };
}

function causeOf(d: Verdict & { accept: false }): RefusalCause {
  return d.cause ?? (d.failed ? (d.timedOut ? "hook-timeout" : "hook-failure") : "hook");
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function isProtocolError(e: RtmpError): boolean {
  return e.code === "MALFORMED" || e.code === "PROTOCOL" || e.code === "LIMIT_EXCEEDED" ||
    e.code === "HANDSHAKE_FAILED" || e.code === "UNSUPPORTED";
}

function fmtAddr(a: { hostname: string; port: number }): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}
