/**
 * A restream destination: a reconnecting publisher that pushes one live stream of the hub to an
 * `rtmp://` or `rtmps://` URL. It has its own bounded queue (a `drop` subscriber that never
 * closes), so a slow or dead destination never slows the ingest or the other destinations. It
 * starts with metadata + sequence headers + a keyframe, and after any failure reconnects with
 * exponential backoff and jitter, resending metadata and headers and resuming at the next
 * keyframe — never with a stale backlog. What it could not send is counted as dropped. A
 * destination that refuses the key is reported as `refused` (never as live) and retried at a
 * much slower rate, or given up. E-RTMP v2 `NetConnection.Connect.ReconnectRequest` makes it
 * move to the named server (or the same one) at once.
 *
 * @module
 */

import { RtmpClient, type RtmpClientOptions } from "../client.ts";
import { isRtmpError, RtmpError } from "../errors.ts";
import { parseRtmpUrl } from "../protocol/url.ts";
import type { HubMessage } from "../hub/hub_message.ts";
import type { LiveStream } from "../hub/live_stream.ts";
import type { Subscriber } from "../hub/subscriber.ts";
import { BoundedQueue } from "../util/bounded_queue.ts";

/**
 * Where a destination is.
 *
 * - `waiting`: the source is not live; nothing to push.
 * - `connecting`: opening the connection and publishing.
 * - `live`: publishing.
 * - `backing-off`: the last attempt failed; the next one is scheduled.
 * - `refused`: the destination refused the key; retried slowly (or given up: `stopped`).
 * - `stopped`: stopped by the caller, by the source ending, or given up.
 *
 * @example
 * ```ts
 * import type { DestinationState } from "./destination.ts";
 * const s: DestinationState = "backing-off";
 * ```
 */
export type DestinationState =
  | "waiting"
  | "connecting"
  | "live"
  | "backing-off"
  | "refused"
  | "stopped";

/**
 * Options of a destination.
 *
 * @example
 * ```ts
 * import type { DestinationOptions } from "./destination.ts";
 * const o: DestinationOptions = { backoff: { initial: 500, max: 10_000 }, refusedRetry: 60_000 };
 * ```
 */
export interface DestinationOptions {
  /** Options for each connection (TLS CA, timeout, adapter, chunk size). */
  client?: Omit<RtmpClientOptions, "signal" | "enhanced">;
  /** Reconnect delays in ms: `initial` (1 000), doubling (`factor` 2) up to `max` (30 000), ± `jitter` (0.3). */
  backoff?: { initial?: number; max?: number; factor?: number; jitter?: number };
  /** Delay before trying again after the destination refused the key. Default 60 000 ms. */
  refusedRetry?: number;
  /** Refusals in a row before giving up (`stopped`). Default 5; 0 = never give up. */
  maxRefusals?: number;
  /** Soft bound of the queue in bytes (past it video is skipped to a keyframe). Default 8 MiB. */
  queueBytes?: number;
  /** Oldest backlog still sent after a (re)connect, in ms of media; older goes. Default 2 000. */
  maxBacklog?: number;
  /** Stop when the source's publisher goes away (a destination of one publish). Default `false`: wait for the next publisher. */
  endOnUnpublish?: boolean;
  /** Receives one line per state change. */
  log?: (line: string) => void;
  /** Stops the destination. */
  signal?: AbortSignal;
}

/**
 * Counters of a destination.
 *
 * @example
 * ```ts
 * import type { DestinationStats } from "./destination.ts";
 * function lossy(s: DestinationStats): boolean { return s.packetsDropped > 0; }
 * ```
 */
export interface DestinationStats {
  /** The URL with the stream key masked. */
  url: string;
  /** Current state. */
  state: DestinationState;
  /** Payload bytes sent. */
  bytes: number;
  /** Packets sent. */
  packetsSent: number;
  /** Packets of the source that were never sent (queue overflow, stale backlog, failures). */
  packetsDropped: number;
  /** Successful connections after the first. */
  reconnects: number;
  /** Refusals in a row (reset by a successful publish). */
  refusals: number;
  /** The last failure, without secrets, or `null`. */
  lastError: string | null;
  /** Milliseconds spent live in total. */
  liveMs: number;
}

/**
 * A state change of a destination.
 *
 * @example
 * ```ts
 * import type { DestinationEvent } from "./destination.ts";
 * function line(e: DestinationEvent): string { return `${e.previous} → ${e.state}`; }
 * ```
 */
export interface DestinationEvent {
  /** New state. */
  state: DestinationState;
  /** Previous state. */
  previous: DestinationState;
  /** Why (the error for `backing-off` / `refused`), or `null`. */
  reason: string | null;
}

/**
 * A restream destination fed from a live stream.
 *
 * @example Push a live stream to two services
 * ```ts ignore
 * import { RestreamDestination } from "./destination.ts";
 * const yt = new RestreamDestination(session.stream, "rtmps://a.rtmps.youtube.com/live2/KEY");
 * const tw = new RestreamDestination(session.stream, "rtmp://live.twitch.tv/app/KEY");
 * console.log(yt.stats().state, tw.stats().state);
 * await session.ended;
 * ```
 */
export class RestreamDestination implements AsyncDisposable {
  /** Where it pushes (the key is masked in {@linkcode RestreamDestination.label}). */
  readonly url: string;
  /** The URL with the stream key masked, for logs. */
  readonly label: string;
  /** Resolves when the destination has stopped for good. */
  readonly done: Promise<void>;
  readonly #stream: LiveStream;
  readonly #options: DestinationOptions;
  readonly #sub: Subscriber;
  readonly #stop = new AbortController();
  readonly #events = new BoundedQueue<DestinationEvent>({ limit: 256 });
  #state: DestinationState = "waiting";
  #client: RtmpClient | null = null;
  #target: string;
  readonly #stats = {
    bytes: 0,
    packetsSent: 0,
    discarded: 0,
    reconnects: 0,
    refusals: 0,
    lastError: null as string | null,
    liveMs: 0,
  };
  #liveSince = 0;

  /**
   * Starts pushing at once (it waits while the source is not live).
   *
   * @param stream The hub stream to push.
   * @param url `rtmp://` or `rtmps://` URL with the destination's key.
   * @param options Reconnect policy, queue bound, client options.
   */
  constructor(stream: LiveStream, url: string, options: DestinationOptions = {}) {
    parseRtmpUrl(url); // a bad URL is the caller's error, now
    this.url = url;
    this.#target = url;
    this.label = maskKey(url);
    this.#stream = stream;
    this.#options = options;
    const soft = options.queueBytes ?? 8 << 20;
    this.#sub = stream.subscribe({
      policy: "drop",
      maxBytes: soft,
      hardMaxBytes: soft * 2,
      overflow: "drop",
      endOnUnpublish: options.endOnUnpublish ?? false,
      label: `restream ${this.label}`,
    });
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
    this.done = this.#run().catch((e) => {
      this.#stats.lastError = describe(e);
      this.#setState("stopped", this.#stats.lastError);
    });
  }

  /** The current state. */
  get state(): DestinationState {
    return this.#state;
  }

  /** A snapshot of the counters. @returns Stats. */
  stats(): DestinationStats {
    const s = this.#stats;
    const sub = this.#sub.stats();
    return {
      url: this.label,
      state: this.#state,
      bytes: s.bytes,
      packetsSent: s.packetsSent,
      packetsDropped: sub.droppedMessages,
      reconnects: s.reconnects,
      refusals: s.refusals,
      lastError: s.lastError,
      liveMs: s.liveMs + (this.#liveSince ? Date.now() - this.#liveSince : 0),
    };
  }

  /** State changes, oldest first (the newest 256 are kept). @returns An async iterable. */
  events(): AsyncIterable<DestinationEvent> {
    return this.#events;
  }

  /**
   * Stops pushing: unpublishes and closes the connection.
   * @returns Resolves when stopped.
   */
  stop(): Promise<void> {
    this.#stop.abort();
    this.#sub.end();
    void this.#client?.close();
    return this.done;
  }

  /** Same as {@linkcode RestreamDestination.stop}. @returns Resolves when stopped. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #setState(state: DestinationState, reason: string | null = null): void {
    const previous = this.#state;
    if (previous === state) return;
    if (previous === "live" && this.#liveSince) {
      this.#stats.liveMs += Date.now() - this.#liveSince;
      this.#liveSince = 0;
    }
    if (state === "live") this.#liveSince = Date.now();
    this.#state = state;
    this.#events.pushDropOldest({ state, previous, reason });
    this.#options.log?.(
      `restream ${this.#stream.key} → ${this.label}: ${state}${reason ? ` (${reason})` : ""}`,
    );
    if (state === "stopped") this.#events.end();
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    const backoff = this.#options.backoff ?? {};
    const initial = backoff.initial ?? 1000;
    let delay = initial;
    let connected = false;
    try {
      while (!this.#stopped) {
        if (!(await this.#waitLive())) break;
        this.#setState("connecting");
        let client: RtmpClient;
        try {
          client = await RtmpClient.connect(this.#target, {
            ...this.#options.client,
            signal: this.#stop.signal,
            enhanced: codecsOf(this.#stream),
          });
        } catch (e) {
          if (this.#stopped) break;
          this.#target = this.url;
          this.#stats.lastError = describe(e);
          if (isRtmpError(e, "REJECTED")) {
            this.#stats.refusals++;
            const max = this.#options.maxRefusals ?? 5;
            if (max > 0 && this.#stats.refusals >= max) {
              this.#setState("stopped", `gave up after ${this.#stats.refusals} refusals`);
              break;
            }
            this.#setState("refused", this.#stats.lastError);
            await this.#sleep(this.#options.refusedRetry ?? 60_000);
          } else {
            this.#setState("backing-off", this.#stats.lastError);
            await this.#sleep(jittered(delay, backoff.jitter ?? 0.3));
            delay = Math.min(delay * (backoff.factor ?? 2), backoff.max ?? 30_000);
          }
          continue;
        }
        this.#client = client;
        if (connected) this.#stats.reconnects++;
        connected = true;
        this.#stats.refusals = 0;
        delay = initial;
        this.#setState("live");
        const outcome = await this.#push(client);
        this.#client = null;
        if (outcome.kind === "moved") {
          // ReconnectRequest: go to the named server now, without a backoff.
          this.#target = outcome.url;
          await client.close().catch(() => {});
          continue;
        }
        if (outcome.kind === "ended") {
          await client.close().catch(() => {});
          break;
        }
        client.close().catch(() => {});
        if (this.#stopped) break;
        this.#stats.lastError = outcome.error;
        this.#setState("backing-off", outcome.error);
        await this.#sleep(jittered(delay, backoff.jitter ?? 0.3));
        delay = Math.min(delay * (backoff.factor ?? 2), backoff.max ?? 30_000);
      }
    } finally {
      this.#sub.close("restream stopped");
      this.#setState("stopped", this.#stopped ? "stopped" : this.#stats.lastError);
    }
  }

  /** Waits until the source is live; `false` when stopped or the source went away for good. */
  async #waitLive(): Promise<boolean> {
    while (!this.#stream.live) {
      if (this.#stopped || this.#sub.done) return false;
      this.#setState("waiting");
      await Promise.race([this.#sub.wait(), this.#stopPromise()]);
      // A `publish` signal wakes us; drain signals that are now old news.
      const e = this.#sub.next();
      if (e && !("signal" in e)) this.#sub.discardQueued();
    }
    return !this.#stopped;
  }

  /** Pushes until the connection fails, the source ends, or a ReconnectRequest arrives. */
  async #push(
    client: RtmpClient,
  ): Promise<
    { kind: "failed"; error: string } | { kind: "ended" } | { kind: "moved"; url: string }
  > {
    const sub = this.#sub;
    const maxBacklog = this.#options.maxBacklog ?? 2000;
    const oldest = sub.oldestTimestamp();
    const fresh = oldest !== null &&
      ((this.#stream.lastTimestamp - oldest) >>> 0) <= maxBacklog && this.#stats.packetsSent === 0;
    if (!fresh) {
      // A stale backlog goes (counted as dropped); the new session starts from the cached
      // metadata and headers and the next keyframe.
      sub.discardQueued();
      for (const m of this.#stream.configuration()) {
        await client.sendPacket(m.packet);
      }
    }
    let moved: string | null = null;
    const watchEvents = (async () => {
      for await (const ev of client.events()) {
        if (ev.type === "reconnect-request") {
          moved = ev.tcUrl ? joinTcUrl(ev.tcUrl, this.url) : this.url;
          client.closed.then(() => {});
          return;
        }
      }
    })();
    try {
      while (true) {
        if (moved) return { kind: "moved", url: moved };
        const batch = sub.take(256 << 10);
        if (batch.length === 0) {
          if (sub.done || this.#stopped) return { kind: "ended" };
          await Promise.race([sub.wait(), client.closed, watchEvents, this.#stopPromise()]);
          if (moved) return { kind: "moved", url: moved };
          if (client.closed && (await isSettled(client.closed))) {
            return { kind: "failed", error: "the destination closed the connection" };
          }
          continue;
        }
        for (const e of batch) {
          if ("signal" in e) continue;
          await this.#send(client, e);
        }
      }
    } catch (e) {
      if (this.#stopped) return { kind: "ended" };
      return { kind: "failed", error: describe(e) };
    }
  }

  async #send(client: RtmpClient, m: HubMessage): Promise<void> {
    await client.sendPacket(m.packet);
    this.#stats.packetsSent++;
    this.#stats.bytes += m.payload.length;
  }

  #stopPromise(): Promise<void> {
    const signal = this.#stop.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#stop.signal;
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** Whether a promise has settled, without waiting for it. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  const marker = {};
  const v = await Promise.race([p.then(() => true, () => true), Promise.resolve(marker)]);
  return v === true;
}

function jittered(ms: number, jitter: number): number {
  return Math.max(0, Math.round(ms * (1 + (Math.random() * 2 - 1) * jitter)));
}

/** The E-RTMP FourCCs of a stream's sequence headers, to announce in `connect`. */
function codecsOf(stream: LiveStream): { video?: string[]; audio?: string[] } | undefined {
  const { video, audio } = stream.enhancedCodecs();
  return video.length === 0 && audio.length === 0 ? undefined : { video, audio };
}

/** A ReconnectRequest names a tcUrl (`rtmp://host/app`); the stream name stays ours. */
function joinTcUrl(tcUrl: string, original: string): string {
  const name = parseRtmpUrl(original).streamName;
  return `${tcUrl.replace(/\/+$/, "")}/${name}`;
}

/**
 * The URL with its stream key (and any credentials) masked, for logs and stats.
 *
 * @example
 * ```ts
 * import { maskKey } from "./destination.ts";
 * console.log(maskKey("rtmp://live.example.com/app/abcdef123")); // rtmp://live.example.com:1935/app/ab…23
 * ```
 *
 * @param url An RTMP URL.
 * @returns The masked URL.
 */
export function maskKey(url: string): string {
  try {
    const u = parseRtmpUrl(url);
    const scheme = u.secure ? "rtmps" : "rtmp";
    const key = u.streamName;
    const shown = key.length <= 4 ? "****" : `${key.slice(0, 2)}…${key.slice(-2)}`;
    return `${scheme}://${u.hostname}:${u.port}/${u.app}/${shown}`;
  } catch {
    return "(invalid url)";
  }
}

function describe(e: unknown): string {
  if (isRtmpError(e, "REJECTED")) {
    return `refused: ${e.status ?? "error"}${e.description ? ` (${e.description})` : ""}`;
  }
  if (e instanceof RtmpError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
