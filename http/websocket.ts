/**
 * A small server side of the WebSocket protocol (RFC 6455), enough to push binary messages to
 * a browser over a socket that `node:http` handed over in its `upgrade` event (the same code on
 * Deno, Bun and Node):
 *
 * - {@linkcode checkWebSocketUpgrade} validates the opening handshake (§4.2.1) and
 *   {@linkcode webSocketAccept} computes `Sec-WebSocket-Accept` (§4.2.2);
 * - {@linkcode WebSocketFrameParser} is a sans-IO parser of client frames (§5.2) that enforces
 *   masking (§5.1), control-frame rules (§5.5), fragmentation order (§5.4), UTF-8 text (§8.1)
 *   and close codes (§7.4);
 * - {@linkcode ServerWebSocket} sends binary messages, answers pings, runs the close handshake
 *   (§7.1) and reports when the connection is gone.
 *
 * No extension (permessage-deflate) and no subprotocol is negotiated: the client's offers are
 * ignored, as §4.2.2 allows. Messages from the client are validated and discarded.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Duplex } from "node:stream";
import { unrefTimer } from "../socket/unref_timer.ts";

/** The GUID of RFC 6455 §1.3, appended to the client's key before hashing. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * Frame opcodes (RFC 6455 §5.2, §11.8).
 *
 * @example
 * ```ts
 * import { WebSocketOpcode } from "./websocket.ts";
 * console.log(WebSocketOpcode.Binary); // 2
 * ```
 */
export const WebSocketOpcode = {
  Continuation: 0,
  Text: 1,
  Binary: 2,
  Close: 8,
  Ping: 9,
  Pong: 10,
} as const;

/**
 * Close status codes this module sends (RFC 6455 §7.4.1).
 *
 * @example
 * ```ts
 * import { WebSocketCloseCode } from "./websocket.ts";
 * console.log(WebSocketCloseCode.ProtocolError); // 1002
 * ```
 */
export const WebSocketCloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  /** Reported (never sent) when the close frame carried no status (§7.1.5). */
  NoStatus: 1005,
  /** Reported (never sent) when the connection ended without a close frame (§7.1.5). */
  Abnormal: 1006,
  InvalidPayload: 1007,
  MessageTooBig: 1009,
} as const;

/**
 * The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2 item 5.4):
 * base64 of the SHA-1 of the key followed by the protocol's GUID.
 *
 * @example
 * ```ts
 * import { webSocketAccept } from "./websocket.ts";
 * // The example of RFC 6455 §1.3.
 * console.log(webSocketAccept("dGhlIHNhbXBsZSBub25jZQ==")); // s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
 * ```
 *
 * @param key The client's key, as sent.
 * @returns The accept value.
 */
export function webSocketAccept(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

/**
 * The verdict of {@linkcode checkWebSocketUpgrade}: the client's key, or the HTTP status to
 * refuse with and why.
 *
 * @example
 * ```ts
 * import type { UpgradeCheck } from "./websocket.ts";
 * const c: UpgradeCheck = { ok: false, status: 400, message: "no Sec-WebSocket-Key" };
 * console.log(c.ok); // false
 * ```
 */
export type UpgradeCheck =
  | { ok: true; key: string }
  | { ok: false; status: number; message: string; headers?: Record<string, string> };

/** Whether a comma-separated header holds `token` (case-insensitive). */
function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const list = Array.isArray(value) ? value.join(",") : value;
  return list.split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * Checks a client's opening handshake (RFC 6455 §4.2.1): a GET over HTTP/1.1 or later, with
 * `Upgrade: websocket`, `Connection: Upgrade`, a `Sec-WebSocket-Key` that is base64 of 16 bytes
 * and `Sec-WebSocket-Version: 13` (otherwise 426 with the version the server speaks, §4.4).
 *
 * @example
 * ```ts
 * import { checkWebSocketUpgrade } from "./websocket.ts";
 * const check = checkWebSocketUpgrade("GET", "1.1", {
 *   upgrade: "websocket", connection: "Upgrade",
 *   "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13",
 * });
 * console.log(check.ok); // true
 * ```
 *
 * @param method Request method.
 * @param httpVersion Request HTTP version (`"1.1"`).
 * @param headers Request headers (lower-case names, as `node:http` gives them).
 * @returns The key, or a status and message to refuse with.
 */
export function checkWebSocketUpgrade(
  method: string | undefined,
  httpVersion: string,
  headers: IncomingHttpHeaders,
): UpgradeCheck {
  if (method !== "GET") {
    return { ok: false, status: 405, message: `expected GET, got ${method}` };
  }
  const [major, minor] = httpVersion.split(".").map(Number);
  if (!(major > 1 || (major === 1 && minor >= 1))) {
    return { ok: false, status: 400, message: `expected HTTP/1.1 or later, got ${httpVersion}` };
  }
  if (!hasToken(headers.upgrade, "websocket")) {
    return {
      ok: false,
      status: 400,
      message: `expected Upgrade: websocket, got ${headers.upgrade ?? "none"}`,
    };
  }
  if (!hasToken(headers.connection, "upgrade")) {
    return {
      ok: false,
      status: 400,
      message: `expected Connection: Upgrade, got ${headers.connection ?? "none"}`,
    };
  }
  const version = headers["sec-websocket-version"];
  if (version !== "13") {
    return {
      ok: false,
      status: 426,
      message: `expected Sec-WebSocket-Version 13, got ${version ?? "none"}`,
      headers: { "Sec-WebSocket-Version": "13" },
    };
  }
  const key = headers["sec-websocket-key"];
  if (typeof key !== "string" || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return {
      ok: false,
      status: 400,
      message: `expected a Sec-WebSocket-Key of 16 base64 bytes, got ${key ?? "none"}`,
    };
  }
  return { ok: true, key: key.trim() };
}

/**
 * Encodes the header of an unmasked frame, as a server sends (RFC 6455 §5.2): FIN set, the
 * opcode, and the payload length in 7, 7+16 or 7+64 bits.
 *
 * @example
 * ```ts
 * import { encodeFrameHeader, WebSocketOpcode } from "./websocket.ts";
 * console.log(encodeFrameHeader(WebSocketOpcode.Binary, 300)); // Uint8Array [130, 126, 1, 44]
 * ```
 *
 * @param opcode Frame opcode.
 * @param length Payload length in bytes.
 * @returns 2, 4 or 10 bytes.
 */
export function encodeFrameHeader(opcode: number, length: number): Uint8Array {
  let h: Uint8Array;
  if (length < 126) {
    h = new Uint8Array(2);
    h[1] = length;
  } else if (length < 0x10000) {
    h = new Uint8Array(4);
    h[1] = 126;
    h[2] = length >>> 8;
    h[3] = length & 0xff;
  } else {
    h = new Uint8Array(10);
    h[1] = 127;
    // Payloads here stay far below 2^53; the high 32 bits are written from the float.
    const high = Math.floor(length / 0x100000000);
    new DataView(h.buffer).setUint32(2, high);
    new DataView(h.buffer).setUint32(6, length >>> 0);
  }
  h[0] = 0x80 | opcode;
  return h;
}

/**
 * What {@linkcode WebSocketFrameParser.push} found.
 *
 * @example
 * ```ts
 * import type { WebSocketEvent } from "./websocket.ts";
 * const e: WebSocketEvent = { kind: "close", code: 1000, reason: "" };
 * console.log(e.kind); // close
 * ```
 */
export type WebSocketEvent =
  /** A ping; answer with a pong carrying the same payload (§5.5.2). */
  | { kind: "ping"; payload: Uint8Array }
  /** A pong (unsolicited or answering ours). */
  | { kind: "pong" }
  /** A complete data message (its content is discarded, only its size is reported). */
  | { kind: "message"; text: boolean; size: number }
  /** The peer's close frame; `code` 1005 when it carried none. */
  | { kind: "close"; code: number; reason: string }
  /** The peer broke the protocol: close with `code` (1002, 1007, 1009) and drop the socket. */
  | { kind: "error"; code: number; reason: string };

/**
 * Options of {@linkcode WebSocketFrameParser}.
 *
 * @example
 * ```ts
 * import { WebSocketFrameParser } from "./websocket.ts";
 * const parser = new WebSocketFrameParser({ maxMessageSize: 1024 });
 * console.log(parser.failed); // false
 * ```
 */
export interface WebSocketFrameParserOptions {
  /** Largest data message accepted from the client, in bytes (default 64 KiB); above: 1009. */
  maxMessageSize?: number;
}

const P_HEADER = 0;
const P_PAYLOAD = 1;
const P_DONE = 2;

/** Close codes a peer may send (RFC 6455 §7.4.1, §7.4.2; 1004–1006 and 1015 are never sent). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/**
 * A sans-IO parser of the frames a client sends (RFC 6455 §5). Push bytes in any split; it
 * returns events. It holds at most one control frame (≤ 125 bytes) and a 14-byte header; data
 * payloads are unmasked only to check UTF-8 and never kept. After an `error` or `close` event
 * it ignores further input.
 *
 * @example
 * ```ts
 * import { WebSocketFrameParser } from "./websocket.ts";
 * const parser = new WebSocketFrameParser();
 * // A masked ping with payload "hi" (mask 1 2 3 4).
 * const frame = new Uint8Array([0x89, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
 * console.log(parser.push(frame)); // [ { kind: "ping", payload: Uint8Array(2) [ 104, 105 ] } ]
 * ```
 */
export class WebSocketFrameParser {
  #maxMessage: number;
  #state = P_HEADER;
  #header = new Uint8Array(14);
  #headerLen = 0;
  #fin = false;
  #opcode = 0;
  #mask = new Uint8Array(4);
  #remaining = 0;
  #offset = 0;
  #control: Uint8Array | null = null;
  /** Opcode of the data message in progress (Text or Binary), or -1. */
  #message = -1;
  #messageSize = 0;
  #text: TextDecoder | null = null;
  #scratch = new Uint8Array(0);

  /**
   * Creates a parser.
   *
   * @param options Message size bound.
   */
  constructor(options: WebSocketFrameParserOptions = {}) {
    this.#maxMessage = options.maxMessageSize ?? 64 * 1024;
  }

  /** Whether the parser stopped after an `error` or `close` event. */
  get failed(): boolean {
    return this.#state === P_DONE;
  }

  /**
   * Consumes bytes from the client.
   *
   * @param bytes The next bytes, any length.
   * @returns The events they completed, in order.
   */
  push(bytes: Uint8Array): WebSocketEvent[] {
    const out: WebSocketEvent[] = [];
    let i = 0;
    while (i < bytes.length && this.#state !== P_DONE) {
      if (this.#state === P_HEADER) {
        i = this.#readHeader(bytes, i, out);
      } else {
        i = this.#readPayload(bytes, i, out);
      }
    }
    return out;
  }

  #fail(out: WebSocketEvent[], code: number, reason: string): void {
    this.#state = P_DONE;
    out.push({ kind: "error", code, reason });
  }

  /** Bytes the header needs in total, given what has arrived (2, then 2 + ext + 4). */
  #headerNeed(): number {
    if (this.#headerLen < 2) return 2;
    const len7 = this.#header[1] & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
  }

  #readHeader(bytes: Uint8Array, i: number, out: WebSocketEvent[]): number {
    while (i < bytes.length) {
      this.#header[this.#headerLen++] = bytes[i++];
      if (this.#headerLen === 2 && !this.#checkFirstBytes(out)) return i;
      // From two bytes on, the header's full size (at least 6: the mask) is known.
      if (this.#headerLen >= 2 && this.#headerLen === this.#headerNeed()) {
        this.#startPayload(out);
        return i;
      }
    }
    return i;
  }

  /** Checks FIN/RSV/opcode/MASK once the first two bytes are in; false after a failure. */
  #checkFirstBytes(out: WebSocketEvent[]): boolean {
    const b0 = this.#header[0];
    const b1 = this.#header[1];
    this.#fin = (b0 & 0x80) !== 0;
    this.#opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) {
      this.#fail(out, WebSocketCloseCode.ProtocolError, "RSV bits set without an extension");
      return false;
    }
    // §5.1: a server MUST close the connection upon receiving a frame that is not masked.
    if ((b1 & 0x80) === 0) {
      this.#fail(out, WebSocketCloseCode.ProtocolError, "client frame is not masked");
      return false;
    }
    const op = this.#opcode;
    const control = (op & 0x08) !== 0;
    if ((op > WebSocketOpcode.Binary && !control) || op > WebSocketOpcode.Pong) {
      this.#fail(out, WebSocketCloseCode.ProtocolError, `reserved opcode ${op}`);
      return false;
    }
    if (control && (!this.#fin || (b1 & 0x7f) > 125)) {
      this.#fail(
        out,
        WebSocketCloseCode.ProtocolError,
        "control frame fragmented or longer than 125 bytes",
      );
      return false;
    }
    if (op === WebSocketOpcode.Continuation && this.#message < 0) {
      this.#fail(out, WebSocketCloseCode.ProtocolError, "continuation without a message");
      return false;
    }
    if ((op === WebSocketOpcode.Text || op === WebSocketOpcode.Binary) && this.#message >= 0) {
      this.#fail(out, WebSocketCloseCode.ProtocolError, "new message inside a fragmented one");
      return false;
    }
    return true;
  }

  #startPayload(out: WebSocketEvent[]): void {
    const h = this.#header;
    const len7 = h[1] & 0x7f;
    let length = len7;
    let at = 2;
    if (len7 === 126) {
      length = (h[2] << 8) | h[3];
      at = 4;
    } else if (len7 === 127) {
      const view = new DataView(h.buffer, h.byteOffset, 10);
      const high = view.getUint32(2);
      if (high > 0x1fffff) {
        this.#fail(out, WebSocketCloseCode.MessageTooBig, "frame length over 2^53");
        return;
      }
      length = high * 0x100000000 + view.getUint32(6);
      at = 10;
    }
    this.#mask.set(h.subarray(at, at + 4));
    this.#headerLen = 0;
    this.#remaining = length;
    this.#offset = 0;
    const op = this.#opcode;
    if ((op & 0x08) !== 0) {
      this.#control = new Uint8Array(length);
    } else {
      if (op !== WebSocketOpcode.Continuation) {
        this.#message = op;
        this.#messageSize = 0;
        this.#text = op === WebSocketOpcode.Text ? new TextDecoder("utf-8", { fatal: true }) : null;
      }
      this.#messageSize += length;
      if (this.#messageSize > this.#maxMessage) {
        this.#fail(
          out,
          WebSocketCloseCode.MessageTooBig,
          `message over ${this.#maxMessage} bytes`,
        );
        return;
      }
    }
    this.#state = P_PAYLOAD;
    if (length === 0) this.#endFrame(out);
  }

  #readPayload(bytes: Uint8Array, i: number, out: WebSocketEvent[]): number {
    const take = Math.min(this.#remaining, bytes.length - i);
    const chunk = bytes.subarray(i, i + take);
    const mask = this.#mask;
    if (this.#control !== null) {
      for (let k = 0; k < take; k++) {
        this.#control[this.#offset + k] = chunk[k] ^ mask[(this.#offset + k) & 3];
      }
    } else if (this.#text !== null) {
      if (this.#scratch.length < take) this.#scratch = new Uint8Array(Math.max(take, 1024));
      const plain = this.#scratch.subarray(0, take);
      for (let k = 0; k < take; k++) plain[k] = chunk[k] ^ mask[(this.#offset + k) & 3];
      try {
        this.#text.decode(plain, { stream: true });
      } catch {
        this.#fail(out, WebSocketCloseCode.InvalidPayload, "text message is not UTF-8");
        return i + take;
      }
    }
    this.#offset += take;
    this.#remaining -= take;
    if (this.#remaining === 0) this.#endFrame(out);
    return i + take;
  }

  #endFrame(out: WebSocketEvent[]): void {
    this.#state = P_HEADER;
    const op = this.#opcode;
    if ((op & 0x08) === 0) {
      if (!this.#fin) return;
      if (this.#text !== null) {
        try {
          this.#text.decode();
        } catch {
          this.#fail(out, WebSocketCloseCode.InvalidPayload, "text message ends inside UTF-8");
          return;
        }
      }
      out.push({
        kind: "message",
        text: this.#message === WebSocketOpcode.Text,
        size: this.#messageSize,
      });
      this.#message = -1;
      this.#text = null;
      return;
    }
    const payload = this.#control as Uint8Array;
    this.#control = null;
    if (op === WebSocketOpcode.Ping) out.push({ kind: "ping", payload });
    else if (op === WebSocketOpcode.Pong) out.push({ kind: "pong" });
    else this.#closeFrame(payload, out);
  }

  #closeFrame(payload: Uint8Array, out: WebSocketEvent[]): void {
    if (payload.length === 0) {
      this.#state = P_DONE;
      out.push({ kind: "close", code: WebSocketCloseCode.NoStatus, reason: "" });
      return;
    }
    const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : -1;
    if (!isValidCloseCode(code)) {
      this.#fail(out, WebSocketCloseCode.ProtocolError, `invalid close code ${code}`);
      return;
    }
    let reason: string;
    try {
      reason = new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(2));
    } catch {
      this.#fail(out, WebSocketCloseCode.InvalidPayload, "close reason is not UTF-8");
      return;
    }
    this.#state = P_DONE;
    out.push({ kind: "close", code, reason });
  }
}

/**
 * Options of {@linkcode ServerWebSocket}.
 *
 * @example
 * ```ts
 * import type { ServerWebSocketOptions } from "./websocket.ts";
 * const options: ServerWebSocketOptions = { closeTimeoutMs: 1000 };
 * console.log(options.closeTimeoutMs); // 1000
 * ```
 */
export interface ServerWebSocketOptions extends WebSocketFrameParserOptions {
  /** How long to wait for the client's close frame after ours (default 2000 ms). */
  closeTimeoutMs?: number;
}

/**
 * How a {@linkcode ServerWebSocket} ended.
 *
 * @example
 * ```ts
 * import type { WebSocketClosed } from "./websocket.ts";
 * const c: WebSocketClosed = { code: 1006, reason: "", clean: false };
 * console.log(c.clean); // false
 * ```
 */
export interface WebSocketClosed {
  /** The status of the close: the peer's, ours when we closed first, 1006 without a handshake. */
  code: number;
  /** The reason text that went with `code`. */
  reason: string;
  /** Both close frames were exchanged before the socket closed. */
  clean: boolean;
}

/**
 * The server end of an accepted WebSocket connection over a `node:http` upgrade socket.
 * {@linkcode ServerWebSocket.accept} writes the `101` response; then {@linkcode send} pushes
 * binary messages (returning the socket's backpressure verdict, like `write`), pings get pongs,
 * protocol violations close the connection with the matching status, and
 * {@linkcode ServerWebSocket.closed} resolves once the socket is gone.
 *
 * @example
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { checkWebSocketUpgrade, ServerWebSocket } from "./websocket.ts";
 * createServer().on("upgrade", (req, socket, head) => {
 *   const check = checkWebSocketUpgrade(req.method, req.httpVersion, req.headers);
 *   if (!check.ok) return socket.destroy();
 *   const ws = ServerWebSocket.accept(socket, head, check.key);
 *   ws.send(new Uint8Array([1, 2, 3]));
 *   ws.close(1000, "done");
 * }).listen(8080);
 * ```
 */
export class ServerWebSocket {
  #socket: Duplex;
  #parser: WebSocketFrameParser;
  #closeTimeout: number;
  #sentClose = false;
  #gotClose = false;
  /** The client broke the protocol; the close that follows is not a clean one. */
  #violated = false;
  /** Status of the first close frame (sent or received): what `closed` reports. */
  #pendingClose: { code: number; reason: string } | null = null;
  #result: WebSocketClosed | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed: Promise<WebSocketClosed>;
  #resolveClosed!: (c: WebSocketClosed) => void;
  #drainWaiters: Array<() => void> = [];
  #abort = new AbortController();

  private constructor(socket: Duplex, options: ServerWebSocketOptions) {
    this.#socket = socket;
    this.#parser = new WebSocketFrameParser(options);
    this.#closeTimeout = options.closeTimeoutMs ?? 2000;
    this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("drain", () => this.#wakeDrain());
    socket.on("error", () => {});
    socket.on("close", () => this.#onSocketClose());
  }

  /**
   * Completes the opening handshake on an upgrade socket: writes `101 Switching Protocols` with
   * the accept value, then treats `head` (bytes that came with the request) as the first input.
   *
   * @param socket The socket of `node:http`'s `upgrade` event.
   * @param head The `head` buffer of that event.
   * @param key The client's `Sec-WebSocket-Key` (from {@linkcode checkWebSocketUpgrade}).
   * @param options Message size bound, close timeout.
   * @returns The open connection.
   */
  static accept(
    socket: Duplex,
    head: Uint8Array,
    key: string,
    options: ServerWebSocketOptions = {},
  ): ServerWebSocket {
    const ws = new ServerWebSocket(socket, options);
    (socket as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${webSocketAccept(key)}\r\n\r\n`,
    );
    if (head.length > 0) ws.#onData(head);
    return ws;
  }

  /** Resolves once the socket has closed, with the close status. Never rejects. */
  get closed(): Promise<WebSocketClosed> {
    return this.#closed;
  }

  /** Aborts when the connection starts closing (either side) or the socket is gone. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Whether messages can still be sent (no close frame sent or received, socket open). */
  get isOpen(): boolean {
    return !this.#sentClose && !this.#gotClose && this.#result === null;
  }

  /**
   * Sends one binary message (a single unfragmented frame). Ignored once closing.
   *
   * @param data The message.
   * @returns `false` when the socket's buffer is over its mark: wait for
   * {@linkcode ServerWebSocket.drained} before sending more.
   */
  send(data: Uint8Array): boolean {
    if (!this.isOpen) return false;
    return this.#writeFrame(WebSocketOpcode.Binary, data);
  }

  /**
   * Resolves when the socket has drained its buffer, or the connection is closing.
   *
   * @returns Resolves on `drain` or close.
   */
  drained(): Promise<void> {
    if (!this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Starts the close handshake (§7.1.2): sends a close frame, then waits for the client's
   * (at most `closeTimeoutMs`) before the socket is closed. Idempotent.
   *
   * @param code Status code (default 1000).
   * @param reason Short reason text (at most 123 bytes of UTF-8).
   */
  close(code: number = WebSocketCloseCode.Normal, reason = ""): void {
    if (this.#sentClose || this.#result !== null) return;
    this.#sendClose(code, reason);
    if (this.#gotClose) {
      this.#socket.end();
    }
    this.#armDestroy();
  }

  #writeFrame(opcode: number, payload: Uint8Array): boolean {
    const socket = this.#socket as Duplex & { cork?: () => void; uncork?: () => void };
    socket.cork?.();
    socket.write(encodeFrameHeader(opcode, payload.length));
    const ok = payload.length === 0 ? true : socket.write(payload);
    socket.uncork?.();
    return ok;
  }

  #sendClose(code: number, reason: string): void {
    this.#sentClose = true;
    const text = new TextEncoder().encode(reason).subarray(0, 123);
    const body = new Uint8Array(2 + text.length);
    body[0] = code >>> 8;
    body[1] = code & 0xff;
    body.set(text, 2);
    this.#pendingClose ??= { code, reason };
    this.#writeFrame(WebSocketOpcode.Close, body);
    this.#startClosing();
  }

  #startClosing(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort();
    this.#wakeDrain();
  }

  #armDestroy(): void {
    if (this.#timer !== undefined) return;
    this.#timer = unrefTimer(setTimeout(() => this.#socket.destroy(), this.#closeTimeout));
  }

  #wakeDrain(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  #onData(chunk: Uint8Array): void {
    if (this.#gotClose || this.#result !== null) return;
    for (const event of this.#parser.push(chunk)) {
      switch (event.kind) {
        case "ping":
          if (!this.#sentClose) this.#writeFrame(WebSocketOpcode.Pong, event.payload);
          break;
        case "close":
          this.#gotClose = true;
          this.#pendingClose ??= { code: event.code, reason: event.reason };
          // §5.5.1: answer with a close frame echoing the status, then end the TCP connection
          // (§7.1.1: the server closes first).
          if (!this.#sentClose) {
            this.#sendClose(
              event.code === WebSocketCloseCode.NoStatus ? WebSocketCloseCode.Normal : event.code,
              "",
            );
          }
          this.#startClosing();
          this.#socket.end();
          this.#armDestroy();
          break;
        case "error":
          this.#pendingClose ??= { code: event.code, reason: event.reason };
          if (!this.#sentClose) this.#sendClose(event.code, event.reason);
          this.#violated = true;
          this.#gotClose = true;
          this.#startClosing();
          this.#socket.end();
          this.#armDestroy();
          break;
        default:
          // Pongs and client messages need no action: this endpoint only sends.
          break;
      }
    }
  }

  #onSocketClose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const clean = this.#sentClose && this.#gotClose && !this.#violated;
    const status = this.#pendingClose;
    const result: WebSocketClosed = status === null
      ? { code: WebSocketCloseCode.Abnormal, reason: "", clean: false }
      : { code: status.code, reason: status.reason, clean };
    this.#result = result;
    this.#startClosing();
    this.#resolveClosed(result);
  }
}
