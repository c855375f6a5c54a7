/**
 * Server events: what happened on the server, as typed objects a program can subscribe to —
 * connections, connect / publish / play decisions with their reasons, the end of publishes and
 * plays with their counters, hook timeouts and failures, protocol errors, drain progress.
 *
 * {@linkcode ServerEvents} is both an `EventTarget` (listen to one kind: each event is
 * dispatched as a {@linkcode ServerEventMessage} whose `type` is the event's `type`) and an
 * async iterable of every event (each iteration has its own bounded queue, so a slow reader
 * loses the oldest events, never slows the server). The log lines stay for humans; events are
 * for code (dashboards, alerting, billing).
 *
 * @example Count refusals by cause
 * ```ts
 * import { RtmpServer } from "../server.ts";
 * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
 * server.events.addEventListener("publish-refused", (e) => {
 *   const ev = (e as import("./events.ts").ServerEventMessage).detail;
 *   if (ev.type === "publish-refused") console.log(ev.key, ev.cause, ev.reason);
 * });
 * ```
 *
 * @module
 */

import type { SubscriberStats } from "../hub/subscriber.ts";
import type { NetAddress } from "../socket/types.ts";
import { BoundedQueue } from "../util/bounded_queue.ts";
import type { EndReason, SessionStats } from "./types.ts";

/**
 * Why a connection, connect, publish or play was refused, as a small stable set (metric label
 * values); the event's `reason` has the details.
 *
 * - `hook`: the hook answered no.
 * - `hook-failure`: the hook threw or answered something that is not a decision.
 * - `hook-timeout`: the hook did not answer within `limits.hookTimeout`.
 * - `limit`: a connection or player limit (total, per address, per stream).
 * - `duplicate`: the key is live from another connection.
 * - `empty-name`: no stream name.
 * - `shutting-down`: the server is draining or closing.
 * - `playback-disabled`: `playback: false`.
 * - `not-live`: nothing was published within `limits.playWaitTimeout`.
 * - `proxy-protocol`: the PROXY protocol header was missing, malformed, late or untrusted.
 *
 * @example
 * ```ts
 * import type { RefusalCause } from "./events.ts";
 * const c: RefusalCause = "hook-timeout";
 * ```
 */
export type RefusalCause =
  | "hook"
  | "hook-failure"
  | "hook-timeout"
  | "limit"
  | "duplicate"
  | "empty-name"
  | "shutting-down"
  | "playback-disabled"
  | "not-live"
  | "proxy-protocol";

/** Every refusal cause, in a stable order (for metrics that list zeros too). */
export const REFUSAL_CAUSES: readonly RefusalCause[] = Object.freeze([
  "hook",
  "hook-failure",
  "hook-timeout",
  "limit",
  "duplicate",
  "empty-name",
  "shutting-down",
  "playback-disabled",
  "not-live",
  "proxy-protocol",
]);

/**
 * How a viewer plays: an RTMP player, an HTTP-FLV or a WebSocket-FLV viewer.
 *
 * @example
 * ```ts
 * import type { PlayProtocol } from "./events.ts";
 * const p: PlayProtocol = "ws-flv";
 * ```
 */
export type PlayProtocol = "rtmp" | "http-flv" | "ws-flv";

/**
 * One server event. Every event has `type` and `time` (ms since the epoch); the address is
 * always the real client (the one a PROXY protocol header names, when the listener reads them).
 * `connectionId` numbers the server's RTMP connections (`null` for HTTP viewers).
 *
 * @example
 * ```ts
 * import type { ServerEvent } from "./events.ts";
 * function line(e: ServerEvent): string {
 *   switch (e.type) {
 *     case "publish": return `${e.key} from ${e.remoteAddr.hostname}`;
 *     case "unpublish": return `${e.key} ended: ${e.reason}, ${e.stats.payloadBytes} bytes`;
 *     default: return e.type;
 *   }
 * }
 * ```
 */
export type ServerEvent =
  & { time: number }
  & (
    | {
      /** A socket was accepted. */
      type: "connection";
      connectionId: number;
      remoteAddr: NetAddress;
      /** The load balancer's address when a PROXY header named the client, else `null`. */
      proxyAddr: NetAddress | null;
      tls: boolean;
    }
    | {
      /** A socket was closed at once: too many connections, or PROXY protocol rules. */
      type: "connection-refused";
      remoteAddr: NetAddress;
      cause: RefusalCause;
      reason: string;
    }
    | {
      /** A connection ended. */
      type: "disconnect";
      connectionId: number;
      remoteAddr: NetAddress;
      /** Milliseconds since accept. */
      duration: number;
      bytesIn: number;
      bytesOut: number;
    }
    | {
      /** A `connect` was accepted. */
      type: "connect";
      connectionId: number;
      remoteAddr: NetAddress;
      app: string;
      tcUrl: string;
      flashVer: string;
      /** Whether the client announced E-RTMP ReconnectRequest support (`capsEx`). */
      reconnect: boolean;
    }
    | {
      type: "connect-refused";
      connectionId: number;
      remoteAddr: NetAddress;
      app: string;
      cause: RefusalCause;
      reason: string;
    }
    | {
      /** A publish was accepted and its stream started. */
      type: "publish";
      connectionId: number;
      sessionId: number;
      key: string;
      remoteAddr: NetAddress;
      publishType: string;
    }
    | {
      type: "publish-refused";
      connectionId: number;
      key: string;
      remoteAddr: NetAddress;
      cause: RefusalCause;
      /** For logs only (never sent to the peer). */
      reason: string;
      /** The status code the peer was sent. */
      code: string;
    }
    | {
      /** A publish ended. */
      type: "unpublish";
      connectionId: number;
      sessionId: number;
      key: string;
      remoteAddr: NetAddress;
      reason: EndReason;
      stats: SessionStats;
    }
    | {
      /** A viewer started playing. */
      type: "play";
      connectionId: number | null;
      key: string;
      remoteAddr: NetAddress;
      protocol: PlayProtocol;
    }
    | {
      type: "play-refused";
      connectionId: number | null;
      key: string;
      remoteAddr: NetAddress;
      protocol: PlayProtocol;
      cause: RefusalCause;
      reason: string;
    }
    | {
      /** A viewer stopped (left, was stopped, fell too far behind). */
      type: "stop";
      connectionId: number | null;
      key: string;
      remoteAddr: NetAddress;
      protocol: PlayProtocol;
      reason: string;
      /** Milliseconds played. */
      duration: number;
      stats: SubscriberStats;
    }
    | {
      /** A hook did not answer in time (the request was refused as retryable). */
      type: "hook-timeout";
      stage: "connect" | "publish" | "play";
      connectionId: number | null;
      remoteAddr: NetAddress;
      reason: string;
    }
    | {
      /** A hook threw or answered something that is not a decision. */
      type: "hook-failure";
      stage: "connect" | "publish" | "play";
      connectionId: number | null;
      remoteAddr: NetAddress;
      reason: string;
    }
    | {
      /** A peer sent something malformed; its connection was closed. */
      type: "protocol-error";
      connectionId: number;
      remoteAddr: NetAddress;
      message: string;
    }
    | {
      /** A drain started: the listeners are closed; reconnect requests follow. */
      type: "drain-start";
      /** Milliseconds publishers get to leave. */
      timeout: number;
      /** Connections publishing now. */
      publishers: number;
    }
    | {
      /** The server asked a client to reconnect (E-RTMP v2 ReconnectRequest). */
      type: "reconnect-request";
      connectionId: number;
      remoteAddr: NetAddress;
      /** Keys it publishes or plays. */
      keys: string[];
      tcUrl: string | null;
    }
    | {
      /** A drain's wait is over; the server closes next. */
      type: "drain-end";
      /** Connections asked to reconnect. */
      asked: number;
      /** Publishers that did not announce ReconnectRequest support. */
      unsupported: number;
      /** Publishers that left before the deadline. */
      left: number;
      /** Publishers still there at the deadline, closed now. */
      closed: number;
    }
  );

/**
 * The type names of {@linkcode ServerEvent}.
 *
 * @example
 * ```ts
 * import type { ServerEventType } from "./events.ts";
 * const t: ServerEventType = "publish-refused";
 * ```
 */
export type ServerEventType = ServerEvent["type"];

/**
 * A server event as dispatched to `EventTarget` listeners: `type` is the event's type,
 * `detail` the event.
 *
 * @example
 * ```ts
 * import { ServerEventMessage } from "./events.ts";
 * const m = new ServerEventMessage({ type: "protocol-error", time: 0, connectionId: 1,
 *   remoteAddr: { hostname: "127.0.0.1", port: 5000 }, message: "bad chunk" });
 * console.log(m.type, m.detail.type); // protocol-error protocol-error
 * ```
 */
export class ServerEventMessage extends Event {
  /** The event. */
  readonly detail: ServerEvent;

  /**
   * Wraps an event for `dispatchEvent`.
   * @param detail The event.
   */
  constructor(detail: ServerEvent) {
    super(detail.type);
    this.detail = detail;
  }
}

/**
 * Options of {@linkcode ServerEvents.subscribe}.
 *
 * @example
 * ```ts
 * import type { SubscribeOptions } from "./events.ts";
 * const o: SubscribeOptions = { limit: 10_000, types: ["publish", "unpublish"] };
 * ```
 */
export interface SubscribeOptions {
  /** Events kept for a slow reader; past it the oldest are dropped. Default 1024. */
  limit?: number;
  /** Only these types (default: every event). */
  types?: readonly ServerEventType[];
  /** Aborting ends the iteration. */
  signal?: AbortSignal;
}

/**
 * The event source of one server (`server.events`).
 *
 * Listener exceptions follow `EventTarget` rules (reported as uncaught errors, not caught by
 * the server), so keep listeners small or iterate instead.
 *
 * @example Iterate every event until the server closes
 * ```ts
 * import { RtmpServer } from "../server.ts";
 * const server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
 * (async () => {
 *   for await (const e of server.events) console.log(JSON.stringify(e));
 * })();
 * await server.close();
 * ```
 */
export class ServerEvents extends EventTarget implements AsyncIterable<ServerEvent> {
  readonly #queues = new Set<
    { queue: BoundedQueue<ServerEvent>; types: ReadonlySet<string> | null }
  >();
  #ended = false;

  /**
   * Hands an event to listeners and iterators.
   * @internal Called by the server.
   * @param event The event.
   */
  emit(event: ServerEvent): void {
    for (const q of this.#queues) {
      if (q.types === null || q.types.has(event.type)) q.queue.pushDropOldest(event);
    }
    this.dispatchEvent(new ServerEventMessage(event));
  }

  /**
   * Ends every iteration (the server closed); queued events are still delivered.
   * @internal Called by the server.
   */
  end(): void {
    this.#ended = true;
    for (const q of this.#queues) q.queue.end();
    this.#queues.clear();
  }

  /**
   * Events from now on, until the server closes or `signal` aborts.
   *
   * @example
   * ```ts
   * import type { ServerEvents } from "./events.ts";
   * async function refusals(events: ServerEvents): Promise<void> {
   *   for await (const e of events.subscribe({ types: ["publish-refused"] })) console.log(e);
   * }
   * ```
   *
   * @param options Queue bound, types, signal.
   * @returns An async iterable (iterate it once).
   */
  subscribe(options: SubscribeOptions = {}): AsyncIterable<ServerEvent> {
    const queue = new BoundedQueue<ServerEvent>({ limit: options.limit ?? 1024 });
    const entry = { queue, types: options.types ? new Set<string>(options.types) : null };
    if (this.#ended) queue.end();
    else this.#queues.add(entry);
    const stop = (): void => {
      this.#queues.delete(entry);
      queue.end();
    };
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<ServerEvent> => {
        const inner = queue[Symbol.asyncIterator]();
        return {
          next: () => inner.next(),
          return: (): Promise<IteratorResult<ServerEvent>> => {
            this.#queues.delete(entry);
            options.signal?.removeEventListener("abort", stop);
            return inner.return!();
          },
        };
      },
    };
  }

  /** Same as `subscribe()` with the defaults. @returns An async iterator. */
  [Symbol.asyncIterator](): AsyncIterator<ServerEvent> {
    return this.subscribe()[Symbol.asyncIterator]();
  }
}
