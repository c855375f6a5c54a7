/**
 * What the HTTP-FLV / WebSocket-FLV output needs from the rest of the server: a way to open one
 * subscription of a live stream ({@linkcode HttpFlvOptions.open}), and a few options. The stream
 * hub implements `open`; tests implement it with packets read from a file.
 *
 * @module
 */

import type { MediaPacket } from "../protocol/packet.ts";

/**
 * Batch access to a {@linkcode LiveSource}'s packets.
 *
 * @example
 * ```ts
 * import type { PacketBatches } from "./types.ts";
 * function drain(b: PacketBatches): number {
 *   return b.take().length;
 * }
 * ```
 */
export interface PacketBatches {
  /** Removes and returns the packets queued now (empty when none). */
  take(): MediaPacket[];
  /** Whether the source ended and nothing is left. */
  readonly done: boolean;
  /**
   * Sets the callback run (synchronously, from the publisher's turn) when packets arrive in an
   * empty queue or the source ends; `null` removes it.
   */
  onReady(listener: (() => void) | null): void;
}

/**
 * One subscriber of one live stream.
 *
 * @example
 * ```ts
 * import type { LiveSource } from "./types.ts";
 * import type { MediaPacket } from "../protocol/packet.ts";
 * function fromArray(packets: MediaPacket[]): LiveSource {
 *   return { packets: (async function* () { yield* packets; })(), close() {} };
 * }
 * console.log(typeof fromArray([]).close); // function
 * ```
 */
export interface LiveSource {
  /**
   * The packets, starting with metadata, sequence headers and the GOP cache, then live. Ends
   * when the stream ends. The source bounds its own queue (dropping frames for a slow viewer):
   * the output never buffers more than one packet ahead of the socket.
   */
  readonly packets: AsyncIterable<MediaPacket>;
  /**
   * The same packets without a promise each, for a source that can offer them (the server's
   * stream hub does): the output then writes every viewer's queue in one go per wave of media.
   * When present, `packets` is not read.
   */
  readonly batches?: PacketBatches;
  /** The viewer went away: release the subscription. The output calls it exactly once. */
  close(): void;
}

/**
 * A request for a live stream, as {@linkcode HttpFlvOptions.open} sees it.
 *
 * @example
 * ```ts
 * import type { LiveRequest } from "./types.ts";
 * const r: LiveRequest = {
 *   app: "live", name: "key", query: new URLSearchParams("token=t"), protocol: "http-flv",
 *   remoteAddr: { hostname: "127.0.0.1", port: 50000 },
 * };
 * console.log(r.query.get("token")); // t
 * ```
 */
export interface LiveRequest {
  /** Application: the path segments before the last one (`live` in `/live/key.flv`). */
  app: string;
  /** Stream name: the last path segment without `.flv` (`key`), percent-decoded. */
  name: string;
  /** The query string (`?token=…`), for the same play hook as RTMP players. */
  query: URLSearchParams;
  /** How the viewer receives the stream. */
  protocol: "http-flv" | "ws-flv";
  /** The viewer's address as the socket reports it. */
  remoteAddr: { hostname: string; port: number };
}

/**
 * Options of the HTTP-FLV / WebSocket-FLV output ({@linkcode createHttpFlvHandler} and
 * {@linkcode startHttpFlvServer}).
 *
 * @example
 * ```ts
 * import type { HttpFlvOptions } from "./types.ts";
 * const options: HttpFlvOptions = {
 *   open: () => Promise.resolve(null), // nothing is live
 *   cors: { origins: ["https://example.com"] },
 * };
 * console.log(options.cors?.origins); // [ "https://example.com" ]
 * ```
 */
export interface HttpFlvOptions {
  /**
   * Opens a subscription; resolve `null` when the stream is not live (404). May wait (for a
   * publisher, per policy); `signal` aborts when the viewer leaves or the server closes. Throw
   * an `RtmpError` with code `REJECTED` to refuse a viewer (403); `TIMEOUT` answers 504, any
   * other error 500.
   */
  open(req: LiveRequest, signal: AbortSignal): Promise<LiveSource | null>;
  /**
   * Which origins may read the stream from a page (`Access-Control-Allow-Origin`; for
   * WebSocket, the `Origin` check of RFC 6455 §10.2). Default `{ origins: "*" }`.
   */
  cors?: { origins: string[] | "*" };
  /** Serve a small page at `/` that plays `/live/NAME.flv?…` (`/?stream=NAME`) with mpegts.js. */
  testPage?: TestPageOptions;
  /**
   * Merged writes: once the output has {@linkcode HttpFlvOptions.mergeFromViewers} viewers, a
   * viewer's packets that arrive within this many milliseconds go out in one write (one timer
   * for every viewer). Each write is a system call, and at a few hundred viewers those calls are
   * most of the server's CPU (500 viewers of a 600 kbit/s stream: less than half the CPU with
   * 100 ms); the cost is up to this much more delay. `0` never merges. Default 100 (SRS merges
   * player writes over 350 ms by default).
   */
  mergeWriteMs?: number;
  /**
   * How many viewers (HTTP and WebSocket, all streams) this output must have before writes are
   * merged: below it each wave of media is written at once, for the lowest latency. Default 100.
   */
  mergeFromViewers?: number;
  /** Receives one line per request (method, path, status, bytes, duration). */
  log?: (line: string) => void;
}

/**
 * Where the test page gets its player. The library ships no player: point `playerUrl` at a copy
 * of mpegts.js (`mpegts.js` on npm, `dist/mpegts.js`), or give `playerFile` and it is served at
 * `/mpegts.js`.
 *
 * @example
 * ```ts
 * import type { TestPageOptions } from "./types.ts";
 * const page: TestPageOptions = { playerFile: "node_modules/mpegts.js/dist/mpegts.js" };
 * console.log(page.playerUrl ?? "/mpegts.js"); // /mpegts.js
 * ```
 */
export interface TestPageOptions {
  /** `src` of the page's player script. Default `/mpegts.js` (with `playerFile`). */
  playerUrl?: string;
  /** A file served at `/mpegts.js` (read on each request, so it may change on disk). */
  playerFile?: string;
}
