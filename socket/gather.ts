/**
 * Writing a batch of small pieces as few buffers: neighbours smaller than 64 KiB are copied
 * together (at most 256 KiB per buffer), larger pieces go as they are (copying them would cost
 * more than the write it saves). One write, and one system call, per burst of messages.
 *
 * @module
 */

import type { Conn } from "./types.ts";

/** Pieces smaller than this are gathered into one buffer. */
const GATHER_PIECE = 64 << 10;
/** The most bytes gathered into one buffer. */
const GATHER_LIMIT = 256 << 10;

/**
 * Where {@linkcode sendGathered} writes: a connection, or anything with its `send`.
 *
 * @example
 * ```ts
 * import type { GatherSink } from "./gather.ts";
 * const sink: GatherSink = { send: (bytes) => bytes.length > 0 };
 * ```
 */
export interface GatherSink {
  /** Writes one buffer; `false` when the destination is full (writing goes on). */
  send(bytes: Uint8Array): boolean;
}

/**
 * Hands `pieces` to `sink.send` in order, small neighbours gathered into one buffer.
 *
 * @example
 * ```ts
 * import { sendGathered } from "./gather.ts";
 * const sent: number[] = [];
 * sendGathered([new Uint8Array(3), new Uint8Array(4)], { send: (b) => sent.push(b.length) > 0 });
 * console.log(sent); // [7]
 * ```
 *
 * @param pieces The bytes, in order.
 * @param sink Where they go (a method call: no closure per connection).
 * @returns Whether every `send` returned `true`.
 */
export function sendGathered(pieces: readonly Uint8Array[], sink: GatherSink): boolean {
  let ok = true;
  let i = 0;
  while (i < pieces.length) {
    let end = i;
    let bytes = 0;
    while (
      end < pieces.length && pieces[end].length < GATHER_PIECE &&
      bytes + pieces[end].length <= GATHER_LIMIT
    ) bytes += pieces[end++].length;
    if (end - i < 2) {
      ok = sink.send(pieces[i++]) && ok;
      continue;
    }
    const out = new Uint8Array(bytes);
    let at = 0;
    for (; i < end; i++) {
      out.set(pieces[i], at);
      at += pieces[i].length;
    }
    ok = sink.send(out) && ok;
  }
  return ok;
}

/**
 * Sends `pieces` on `conn` in as few writes as it can: with its own
 * {@linkcode Conn.sendAll} where it has one, else gathered ({@linkcode sendGathered}).
 *
 * @example
 * ```ts ignore
 * import { sendPieces } from "./gather.ts";
 * if (!sendPieces(conn, [header, payload])) await conn.writable();
 * ```
 *
 * @param conn The connection.
 * @param pieces The bytes, in order.
 * @returns `false` under backpressure, as {@linkcode Conn.send}.
 */
export function sendPieces(
  conn: Pick<Conn, "send" | "sendAll">,
  pieces: readonly Uint8Array[],
): boolean {
  return conn.sendAll !== undefined ? conn.sendAll(pieces) : sendGathered(pieces, conn);
}
