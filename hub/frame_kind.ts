/**
 * Frame classification on raw payload bytes (hot path: no full tag parse).
 * TEMPORARY until merged with protocol/ predicates.
 *
 * @module
 */

/**
 * @example
 * ```ts
 * import { isKeyframePayload } from "./frame_kind.ts";
 * console.log(isKeyframePayload(new Uint8Array([0x17, 1]))); // true
 * ```
 * @param p Video payload.
 * @returns Whether it is a keyframe (never a header).
 */
export function isKeyframePayload(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  const b0 = p[0];
  if (b0 & 0x80) {
    if (((b0 >> 4) & 7) !== 1) return false;
    let pt = b0 & 0x0f;
    if (pt === 6) pt = p[1] & 0x0f;
    return pt === 1 || pt === 3;
  }
  if (b0 >> 4 !== 1) return false;
  const codec = b0 & 0x0f;
  return codec === 7 || codec === 12 ? p[1] === 1 : true;
}

/**
 * @example
 * ```ts
 * import { isSequenceHeaderPayload } from "./frame_kind.ts";
 * console.log(isSequenceHeaderPayload("audio", new Uint8Array([0xaf, 0]))); // true
 * ```
 * @param kind Audio or video.
 * @param p Payload.
 * @returns Whether it is a sequence header.
 */
export function isSequenceHeaderPayload(kind: "audio" | "video", p: Uint8Array): boolean {
  if (p.length < 2) return false;
  const b0 = p[0];
  if (kind === "video") {
    if (b0 & 0x80) {
      let pt = b0 & 0x0f;
      if (pt === 6) pt = p[1] & 0x0f;
      return pt === 0 || pt === 5;
    }
    const codec = b0 & 0x0f;
    return (codec === 7 || codec === 12) && p[1] === 0;
  }
  const format = b0 >> 4;
  if (format === 9) {
    let pt = b0 & 0x0f;
    if (pt === 5) pt = p[1] & 0x0f;
    return pt === 0 || pt === 4;
  }
  return format === 10 && p[1] === 0;
}

/**
 * @example
 * ```ts
 * import { headerKeyOf } from "./frame_kind.ts";
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

/**
 * @example
 * ```ts
 * import { stripSetDataFrame } from "./frame_kind.ts";
 * console.log(stripSetDataFrame(new Uint8Array([2, 0, 1, 0x41]), 18).length); // 4
 * ```
 * @param p Data payload.
 * @param type Message type.
 * @returns The payload without a leading `@setDataFrame` string.
 */
export function stripSetDataFrame(p: Uint8Array, type: number): Uint8Array {
  const name = "@setDataFrame";
  if (type !== 18 || p.length <= 3 + name.length || p[0] !== 2) return p;
  if (((p[1] << 8) | p[2]) !== name.length) return p;
  for (let i = 0; i < name.length; i++) if (p[3 + i] !== name.charCodeAt(i)) return p;
  return p.subarray(3 + name.length);
}
