/**
 * A pull relay: a stream of this server's hub fed from a remote `rtmp://` / `rtmps://` URL with
 * the pull client (`RtmpPlayer`), so players, HTTP-FLV viewers, recorders and restreams here read
 * a stream published elsewhere (an origin). It reconnects like a restream destination (backoff
 * with jitter); while it is down the local stream is not live, and it comes back with the
 * remote's metadata and headers. Started for good, or on demand when a viewer asks for a key
 * that is not live here (and stopped once nobody watches).
 *
 * @module
 */

import { RtmpClient, type RtmpPlayOptions } from "../client.ts";
import { isRtmpError, RtmpError } from "../errors.ts";
import { parseRtmpUrl } from "../protocol/url.ts";
import { HubMessage } from "../hub/hub_message.ts";
import type { LiveStream } from "../hub/live_stream.ts";
import { maskKey } from "./destination.ts";

/**
 * Options of a pull relay.
 *
 * @example
 * ```ts
 * import type { PullRelayOptions } from "./pull_relay.ts";
 * const o: PullRelayOptions = { backoff: { initial: 500, max: 10_000 }, idleStop: 30_000 };
 * ```
 */
export interface PullRelayOptions {
  /** Options of each pull connection (TLS CA, timeout, credentials, E-RTMP announcement). */
  client?: Omit<RtmpPlayOptions, "signal" | "reconnect" | "endOnUnpublish">;
  /** Retry delays in ms: `initial` (1 000), doubling up to `max` (30 000), ± 30 % jitter. */
  backoff?: { initial?: number; max?: number };
  /**
   * On-demand relays: stop after the local stream has had no subscriber for this long (ms).
   * `0` keeps the relay up for good. Default 0.
   */
  idleStop?: number;
  /** One line per state change. */
  log?: (line: string) => void;
  /** Stops the relay. */
  signal?: AbortSignal;
}

/**
 * Counters of a pull relay.
 *
 * @example
 * ```ts
 * import type { PullRelayStats } from "./pull_relay.ts";
 * function up(s: PullRelayStats): boolean { return s.state === "live"; }
 * ```
 */
export interface PullRelayStats {
  /** The source URL with its key masked. */
  url: string;
  /** `connecting`, `live`, `backing-off` or `stopped`. */
  state: "connecting" | "live" | "backing-off" | "stopped";
  /** Packets relayed into the hub. */
  packets: number;
  /** Payload bytes relayed. */
  bytes: number;
  /** Successful connections after the first. */
  reconnects: number;
  /** The last failure, or `null`. */
  lastError: string | null;
}

/**
 * A pull relay.
 *
 * @example Keep a remote stream available here as `live/cam`
 * ```ts ignore
 * const relay = new PullRelay(server.hub.open("live/cam"), "rtmp://origin.example.com/live/cam");
 * console.log(relay.stats().state);
 * await relay.stop();
 * ```
 */
export class PullRelay implements AsyncDisposable {
  /** The source URL. */
  readonly url: string;
  /** The source URL with its key masked. */
  readonly label: string;
  /** Resolves once the relay has stopped. */
  readonly done: Promise<void>;
  readonly #stream: LiveStream;
  readonly #options: PullRelayOptions;
  readonly #stop = new AbortController();
  #state: PullRelayStats["state"] = "connecting";
  readonly #stats = { packets: 0, bytes: 0, reconnects: 0, lastError: null as string | null };

  /**
   * Starts pulling at once.
   * @param stream The local stream it feeds (it must have no publisher of its own).
   * @param url The remote `rtmp://` / `rtmps://` stream.
   * @param options Retry policy, client options, on-demand stop.
   */
  constructor(stream: LiveStream, url: string, options: PullRelayOptions = {}) {
    parseRtmpUrl(url);
    this.url = url;
    this.label = maskKey(url);
    this.#stream = stream;
    this.#options = options;
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
    this.done = this.#run().catch((e) => {
      this.#stats.lastError = describe(e);
    }).finally(() => this.#set("stopped"));
  }

  /** A snapshot of the counters. @returns Stats. */
  stats(): PullRelayStats {
    return { url: this.label, state: this.#state, ...this.#stats };
  }

  /** Stops the relay; the local stream ends for its viewers. @returns Resolves when stopped. */
  stop(): Promise<void> {
    this.#stop.abort();
    return this.done;
  }

  /** Same as {@linkcode PullRelay.stop}. @returns Resolves when stopped. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #set(state: PullRelayStats["state"], reason: string | null = null): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.log?.(
      `relay ${this.label} → ${this.#stream.key}: ${state}${reason ? ` (${reason})` : ""}`,
    );
  }

  async #run(): Promise<void> {
    const initial = this.#options.backoff?.initial ?? 1000;
    const max = this.#options.backoff?.max ?? 30_000;
    let delay = initial;
    let connected = false;
    let idleSince = 0;
    while (!this.#stop.signal.aborted) {
      this.#set("connecting");
      let player: Awaited<ReturnType<typeof RtmpClient.play>>;
      try {
        player = await RtmpClient.play(this.url, {
          ...this.#options.client,
          signal: this.#stop.signal,
          endOnUnpublish: true,
        });
      } catch (e) {
        if (this.#stop.signal.aborted) break;
        this.#stats.lastError = describe(e);
        this.#set("backing-off", this.#stats.lastError);
        await this.#sleep(jittered(delay));
        delay = Math.min(delay * 2, max);
        continue;
      }
      if (connected) this.#stats.reconnects++;
      connected = true;
      delay = initial;
      this.#set("live");
      // The relay is the stream's publisher while it is connected.
      this.#stream.start(Date.now(), this);
      try {
        for await (const packet of player) {
          const m = HubMessage.fromPacket(packet);
          this.#stats.packets++;
          this.#stats.bytes += m.payload.length;
          const wait = this.#stream.publish(m);
          if (wait) await wait;
          if (this.#idle(Date.now(), () => idleSince, (t) => idleSince = t)) break;
        }
        this.#stats.lastError = "the source ended";
      } catch (e) {
        this.#stats.lastError = describe(e);
      } finally {
        this.#stream.stop(this);
        await player.close().catch(() => {});
      }
      if (this.#stop.signal.aborted || this.#idleExpired(idleSince)) break;
      this.#set("backing-off", this.#stats.lastError);
      await this.#sleep(jittered(delay));
      delay = Math.min(delay * 2, max);
    }
  }

  /** On-demand relays end after `idleStop` ms without subscribers. */
  #idle(now: number, get: () => number, set: (t: number) => void): boolean {
    const idleStop = this.#options.idleStop ?? 0;
    if (idleStop <= 0) return false;
    if (this.#stream.subscriberCount > 0) {
      set(0);
      return false;
    }
    if (get() === 0) set(now);
    return now - get() >= idleStop;
  }

  #idleExpired(idleSince: number): boolean {
    const idleStop = this.#options.idleStop ?? 0;
    return idleStop > 0 && idleSince > 0 && Date.now() - idleSince >= idleStop;
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

function jittered(ms: number): number {
  return Math.round(ms * (0.7 + Math.random() * 0.6));
}

function describe(e: unknown): string {
  if (isRtmpError(e, "REJECTED")) {
    return `refused: ${e.status ?? "error"}${e.description ? ` (${e.description})` : ""}`;
  }
  if (e instanceof RtmpError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
