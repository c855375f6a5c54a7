/**
 * Writing a batch of small pieces as few buffers: neighbours smaller than 64 KiB are copied
 * together (at most 256 KiB per buffer), larger pieces go as they are (copying them would cost
 * more than the write it saves). One write, and one system call, per burst of messages.
 *
 * @module
 */

/** Pieces smaller than this are gathered into one buffer. */
const GATHER_PIECE = 64 << 10;
/** The most bytes gathered into one buffer. */
const GATHER_LIMIT = 256 << 10;

/**
 * Hands `pieces` to `send` in order, small neighbours gathered into one buffer.
 *
 * @example
 * ```ts
 * import { sendGathered } from "./gather.ts";
 * const sent: number[] = [];
 * sendGathered([new Uint8Array(3), new Uint8Array(4)], (b) => sent.push(b.length) > 0);
 * console.log(sent); // [7]
 * ```
 *
 * @param pieces The bytes, in order.
 * @param send Writes one buffer; `false` when the destination is full (writing goes on).
 * @returns Whether every `send` returned `true`.
 */
export function sendGathered(
  pieces: readonly Uint8Array[],
  send: (bytes: Uint8Array) => boolean,
): boolean {
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
      ok = send(pieces[i++]) && ok;
      continue;
    }
    const out = new Uint8Array(bytes);
    let at = 0;
    for (; i < end; i++) {
      out.set(pieces[i], at);
      at += pieces[i].length;
    }
    ok = send(out) && ok;
  }
  return ok;
}
