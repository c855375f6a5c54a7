/**
 * A hostile RTMP peer for tests: a raw TCP (or TLS) socket that does only what a test scripts —
 * garbage, a byte at a time, chunk and AMF bombs — and reports when the server closes it.
 *
 * The valid parts (the handshake, a well-formed `connect`) come from the library's own
 * encoders; the hostile parts are written byte by byte here so that no encoder check stands
 * between the test and the server.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { encodeAmf0 } from "../../protocol/amf0.ts";
import { ClientHandshake } from "../../protocol/handshake.ts";
import { concat } from "./util.ts";

/** A scripted peer connected to a server. */
export interface HostilePeer {
  /** The socket (already connected; for TLS, the TLS socket with its handshake done). */
  readonly socket: net.Socket;
  /** Milliseconds from connect until the server closed the connection (FIN, reset or TLS end). */
  readonly closed: Promise<number>;
  /** Bytes received from the server so far. */
  readonly received: () => number;
  /** Writes bytes unless the connection is gone (then quietly does nothing). */
  write(bytes: Uint8Array | string): void;
  /**
   * Writes `bytes` one at a time every `intervalMs` until done or closed.
   * @returns Resolves when everything was written or the server closed the connection.
   */
  trickle(bytes: Uint8Array, intervalMs: number): Promise<void>;
  /** Completes a simple RTMP handshake (C0+C1, then C2 once S1 came). */
  handshake(): Promise<void>;
  /** Closes our side at once. */
  destroy(): void;
}

/** Options of {@linkcode hostileConnect}. */
export interface HostileConnectOptions {
  /** Host (default 127.0.0.1). */
  host?: string;
  /** Connect with TLS (certificates are not checked: the attacker does not care). */
  tls?: boolean;
}

/**
 * Opens a connection that reads (and counts) everything the server sends, so the server's FIN
 * is seen as soon as it comes.
 *
 * @param port Server port.
 * @param options Host and TLS.
 * @returns The connected peer.
 */
export async function hostileConnect(
  port: number,
  options: HostileConnectOptions = {},
): Promise<HostilePeer> {
  const host = options.host ?? "127.0.0.1";
  const socket = options.tls
    ? tls.connect({ host, port, rejectUnauthorized: false, servername: "localhost" })
    : net.connect({ host, port });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once(options.tls ? "secureConnect" : "connect", () => resolve());
    socket.once("close", () => reject(new Error(`hostileConnect: ${host}:${port} refused`)));
  });
  const start = performance.now();
  let gone = false;
  const closed = new Promise<number>((resolve) => {
    const done = (): void => {
      gone = true;
      resolve(performance.now() - start);
    };
    socket.once("end", done);
    socket.once("close", done);
  });
  let received = 0;
  const listeners: ((chunk: Uint8Array) => void)[] = [];
  socket.on("data", (chunk: Uint8Array) => {
    received += chunk.length;
    for (const l of listeners) l(chunk);
  });
  const write = (bytes: Uint8Array | string): void => {
    if (!gone && !socket.destroyed) socket.write(bytes);
  };
  return {
    socket,
    closed,
    received: () => received,
    write,
    async trickle(bytes: Uint8Array, intervalMs: number): Promise<void> {
      for (let i = 0; i < bytes.length && !gone; i++) {
        write(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    },
    handshake(): Promise<void> {
      const hs = new ClientHandshake({ digest: false });
      const done = new Promise<void>((resolve, reject) => {
        listeners.push((chunk) => {
          if (hs.done) return;
          try {
            const step = hs.push(chunk);
            if (step.send !== null) write(step.send);
            if (step.done) resolve();
          } catch (e) {
            reject(e);
          }
        });
        closed.then(() => reject(new Error("server closed during the RTMP handshake")));
      });
      write(hs.start());
      return done;
    },
    destroy(): void {
      socket.destroy();
    },
  };
}

/**
 * A TLS peer that sends C0 + C1 and then stops reading and writing (so it never sends C2 nor
 * answers the server's close_notify), behind a TCP tap that sees the server's FIN even though
 * the peer reads nothing.
 *
 * @param port The RTMPS port.
 * @returns The peer; its `closed` resolves when the server's FIN (or reset) reached the tap.
 */
export async function stalledTlsPeer(port: number): Promise<HostilePeer> {
  let upstreamClosed: (ms: number) => void = () => {};
  const serverClosed = new Promise<number>((resolve) => upstreamClosed = resolve);
  let start = 0;
  const tap = net.createServer((down) => {
    down.on("error", () => {});
    const up = net.connect({ host: "127.0.0.1", port });
    up.on("error", () => {});
    // No pipe(): back-pressure from the stalled peer would stop the tap reading the server.
    down.on("data", (chunk: Uint8Array) => up.write(chunk));
    up.on("data", (chunk: Uint8Array) => down.write(chunk));
    const done = (): void => upstreamClosed(performance.now() - start);
    up.once("end", done);
    up.once("close", done);
    down.once("close", () => up.destroy());
  });
  await new Promise<void>((resolve) => tap.listen(0, "127.0.0.1", resolve));
  const tapPort = (tap.address() as net.AddressInfo).port;
  const peer = await hostileConnect(tapPort, { tls: true });
  start = performance.now();
  // C0 + C1, then silence: the server answers S0 S1 S2, which nobody reads.
  const c0c1 = new Uint8Array(1537);
  c0c1[0] = 3;
  peer.write(c0c1);
  peer.socket.pause();
  serverClosed.finally(() => tap.close());
  return {
    ...peer,
    closed: serverClosed,
    destroy(): void {
      peer.destroy();
      tap.close();
    },
  };
}

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const be24 = (v: number): number[] => [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/**
 * A fmt-0 chunk header for csid 2..65599 (RTMP 1.0 §5.3.1), announcing `length` bytes.
 *
 * @param csid Chunk stream id.
 * @param type Message type id.
 * @param length Announced message length (24-bit).
 * @param streamId Message stream id.
 * @returns The header bytes (no Extended Timestamp).
 */
export function chunkHeader(csid: number, type: number, length: number, streamId = 0): Uint8Array {
  const basic = csid < 64
    ? [csid]
    : csid < 320
    ? [0, csid - 64]
    : [1, (csid - 64) & 0xff, (csid - 64) >>> 8];
  return new Uint8Array([...basic, 0, 0, 0, ...be24(length), type, ...le32(streamId)]);
}

/**
 * A whole message in chunks of `chunkSize` (fmt 0, then fmt 3; csid < 64).
 *
 * @param csid Chunk stream id (2..63).
 * @param type Message type id.
 * @param payload Message body.
 * @param chunkSize The chunk size the server currently expects from us (default 128).
 * @returns Wire bytes.
 */
export function chunked(
  csid: number,
  type: number,
  payload: Uint8Array,
  chunkSize = 128,
): Uint8Array {
  const parts: Uint8Array[] = [chunkHeader(csid, type, payload.length)];
  for (let o = 0; o < payload.length; o += chunkSize) {
    if (o > 0) parts.push(new Uint8Array([0xc0 | csid]));
    parts.push(payload.subarray(o, o + chunkSize));
  }
  return concat(parts);
}

/**
 * Set Chunk Size (RTMP 1.0 §5.4.1) with any 32-bit value, valid or not.
 *
 * @param size The value to announce.
 * @returns Wire bytes on csid 2.
 */
export function setChunkSize(size: number): Uint8Array {
  const v = size >>> 0;
  return chunked(2, 1, new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]));
}

/**
 * The AMF0 body of a `connect` command for `app` (what every encoder sends first).
 *
 * @param app Application name.
 * @returns AMF0 bytes.
 */
export function connectBody(app: string): Uint8Array {
  return encodeAmf0(["connect", 1, { app, tcUrl: `rtmp://127.0.0.1/${app}`, flashVer: "hostile" }]);
}

/**
 * A `connect` whose command object nests `depth` objects (AMF0 §2.5), never closed: an AMF
 * bomb for recursive decoders.
 *
 * @param depth Nesting depth.
 * @returns AMF0 bytes.
 */
export function nestedObjectBomb(depth: number): Uint8Array {
  const head = encodeAmf0(["connect", 1]);
  // 0x03 starts an object; each level is one property "a" whose value is the next object.
  const level = [0x00, 0x01, 0x61, 0x03];
  const out = new Uint8Array(head.length + 1 + depth * level.length);
  out.set(head, 0);
  out[head.length] = 0x03;
  for (let i = 0; i < depth; i++) out.set(level, head.length + 1 + i * level.length);
  return out;
}

/**
 * A `connect` carrying an AMF0 long string (§2.14) that announces `announced` bytes but
 * holds only a few.
 *
 * @param announced The announced string length.
 * @returns AMF0 bytes.
 */
export function hugeStringBomb(announced: number): Uint8Array {
  const head = encodeAmf0(["connect", 1]);
  const v = announced >>> 0;
  const bomb = [0x0c, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff, 0x41, 0x41, 0x41];
  const out = new Uint8Array(head.length + bomb.length);
  out.set(head, 0);
  out.set(bomb, head.length);
  return out;
}
