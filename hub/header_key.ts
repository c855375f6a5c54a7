/**
 * Which sequence header a message is, so a stream keeps the latest one of each codec and track
 * (legacy: one per kind and codec; Enhanced RTMP: per FourCC and, for multitrack, per track —
 * the bytes after the first one identify them, E-RTMP v2 "Multitrack").
 *
 * @module
 */

/**
 * The cache key of a sequence header.
 *
 * @example
 * ```ts
 * import { headerKeyOf } from "./header_key.ts";
 * console.log(headerKeyOf("audio", new Uint8Array([0xaf, 0]))); // "audio:a0"
 * ```
 * @param kind Audio or video.
 * @param p Header payload.
 * @returns A key per codec and track.
 */
export function headerKeyOf(kind: "audio" | "video", p: Uint8Array): string {
  const b0 = p[0];
  const ex = kind === "video" ? (b0 & 0x80) !== 0 : b0 >> 4 === 9;
  if (!ex) return `${kind}:${(b0 & (kind === "video" ? 0x0f : 0xf0)).toString(16)}`;
  // E-RTMP: the packet type (SequenceStart vs MultichannelConfig…), the FourCC and, for a
  // multitrack message (video 6, audio 5), the track id of its first track. Nothing of the codec
  // configuration itself: a new configuration of the same codec/track replaces the old one.
  const multitrack = (b0 & 0x0f) === (kind === "video" ? 6 : 5);
  const type = multitrack ? p[1] & 0x0f : b0 & 0x0f;
  const from = multitrack ? 2 : 1;
  const to = Math.min(p.length, multitrack ? 7 : 5);
  let key = `${kind}:x${type}:`;
  for (let i = from; i < to; i++) key += p[i].toString(16).padStart(2, "0");
  return key;
}
