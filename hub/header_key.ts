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
  let key = `${kind}:x`;
  for (let i = 1; i < Math.min(p.length, 7); i++) key += p[i].toString(16);
  return key;
}
