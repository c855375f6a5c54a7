/**
 * Enhanced RTMP capability negotiation (E-RTMP v2, "Enhancing NetConnection connect Command"):
 * the `FourCcInfoMask` and `CapsExMask` bits, and the capability properties each side of this
 * library announces — a publishing client in its `connect` command object, a forwarding server
 * in its `_result`. The bits are defined here and nowhere else.
 *
 * @module
 */

import type { AmfObject } from "./amf.ts";
import type { ConnectParams } from "./command.ts";

/**
 * Enhanced RTMP v2 `FourCcInfoMask`: capability bits in `videoFourCcInfoMap` /
 * `audioFourCcInfoMap`.
 *
 * @example
 * ```ts
 * import { FourCcInfoMask } from "./capabilities.ts";
 * console.log(FourCcInfoMask.CanDecode | FourCcInfoMask.CanForward); // 5
 * ```
 */
export const FourCcInfoMask = {
  CanDecode: 0x01,
  CanEncode: 0x02,
  CanForward: 0x04,
} as const;

/**
 * Enhanced RTMP v2 `CapsExMask`: bits of the `capsEx` connect property.
 *
 * @example
 * ```ts
 * import { CapsExMask } from "./capabilities.ts";
 * console.log(CapsExMask.Reconnect | CapsExMask.Multitrack); // 3
 * ```
 */
export const CapsExMask = {
  Reconnect: 0x01,
  Multitrack: 0x02,
  ModEx: 0x04,
  TimestampNanoOffset: 0x08,
} as const;

/**
 * The Enhanced RTMP capability fields of a `connect` command object.
 *
 * @example
 * ```ts
 * import type { EnhancedCapabilities } from "./capabilities.ts";
 * const c: EnhancedCapabilities = { fourCcList: ["hvc1"], capsEx: 2 };
 * ```
 */
export type EnhancedCapabilities = Pick<
  ConnectParams,
  "fourCcList" | "videoFourCcInfoMap" | "audioFourCcInfoMap" | "capsEx"
>;

/**
 * Whether a `connect` request announces Enhanced RTMP support by any of the v1/v2 fields: a
 * server states its own support only to such clients, so legacy clients see a legacy answer.
 *
 * @example
 * ```ts
 * import { isEnhancedConnect } from "./capabilities.ts";
 * console.log(isEnhancedConnect({ app: "live", fourCcList: ["av01"] }), isEnhancedConnect({ app: "live" })); // true false
 * ```
 * @param params The parsed `connect` command object.
 * @returns `true` when `fourCcList`, either FourCC info map or `capsEx` is present.
 */
export function isEnhancedConnect(params: ConnectParams): boolean {
  return params.fourCcList !== undefined || params.videoFourCcInfoMap !== undefined ||
    params.audioFourCcInfoMap !== undefined || params.capsEx !== undefined;
}

/**
 * What a publishing client announces for the Enhanced RTMP codecs it will send: the v1
 * `fourCcList` (deprecated, but some servers forward HEVC/AV1 only to peers listing them), the
 * v2 info maps with `CanEncode`, and `capsEx` for multitrack and ModEx (which the client's tag
 * builders write). Empty lists announce nothing, so a legacy stream stays a legacy connect.
 *
 * @example
 * ```ts
 * import { publisherCapabilities } from "./capabilities.ts";
 * console.log(publisherCapabilities({ video: ["hvc1"] }));
 * // { fourCcList: ["hvc1"], videoFourCcInfoMap: { hvc1: 2 }, capsEx: 6 }
 * ```
 * @param codecs Video and audio FourCCs (`hvc1`, `av01`, `Opus`, …).
 * @returns The fields to put in the `connect` command object (none for no codecs).
 */
export function publisherCapabilities(
  codecs: { video?: readonly string[]; audio?: readonly string[] },
): EnhancedCapabilities {
  const video = codecs.video ?? [];
  const audio = codecs.audio ?? [];
  if (video.length + audio.length === 0) return {};
  const out: EnhancedCapabilities = { fourCcList: [...video, ...audio] };
  const encode = (list: readonly string[]): Record<string, number> =>
    Object.fromEntries(list.map((c) => [c, FourCcInfoMask.CanEncode]));
  if (video.length > 0) out.videoFourCcInfoMap = encode(video);
  if (audio.length > 0) out.audioFourCcInfoMap = encode(audio);
  out.capsEx = CapsExMask.Multitrack | CapsExMask.ModEx;
  return out;
}

/**
 * What a server that forwards media as opaque bytes states in its `connect` `_result`
 * (E-RTMP v2: "The server SHOULD state its support"): any codec (`"*"`) with `CanForward`, and
 * the multitrack, ModEx and nanosecond-offset extensions its tag parser reads.
 *
 * @example
 * ```ts
 * import { forwarderCapabilities } from "./capabilities.ts";
 * console.log(forwarderCapabilities().capsEx); // 14
 * ```
 * @returns A new object of properties for the `_result` properties object.
 */
export function forwarderCapabilities(): AmfObject {
  return {
    fourCcList: ["*"],
    videoFourCcInfoMap: { "*": FourCcInfoMask.CanForward },
    audioFourCcInfoMap: { "*": FourCcInfoMask.CanForward },
    capsEx: CapsExMask.Multitrack | CapsExMask.ModEx | CapsExMask.TimestampNanoOffset,
  };
}

/**
 * Whether a peer's `connect` announced that it accepts a codec (E-RTMP v1 `fourCcList`, or
 * the v2 `videoFourCcInfoMap` / `audioFourCcInfoMap`, where `"*"` stands for any codec). A peer
 * that announced nothing is a legacy peer: it accepts no Enhanced RTMP codec.
 *
 * @example
 * ```ts
 * import { acceptsFourCc } from "./capabilities.ts";
 * console.log(acceptsFourCc({ app: "live", fourCcList: ["av01"] }, "video", "av01")); // true
 * console.log(acceptsFourCc({ app: "live" }, "video", "hvc1")); // false
 * ```
 *
 * @param params The peer's connect parameters.
 * @param kind Which map to look in (v2).
 * @param fourCc The codec.
 * @returns Whether it was announced.
 */
export function acceptsFourCc(
  params: ConnectParams,
  kind: "audio" | "video",
  fourCc: string,
): boolean {
  const list = params.fourCcList;
  if (Array.isArray(list) && (list.includes(fourCc) || list.includes("*"))) return true;
  const map = kind === "video" ? params.videoFourCcInfoMap : params.audioFourCcInfoMap;
  if (map && typeof map === "object") {
    const m = map as Record<string, unknown>;
    return m[fourCc] !== undefined || m["*"] !== undefined;
  }
  return false;
}

/**
 * What a playing client announces so that Enhanced RTMP servers send it HEVC, AV1, VP9, Opus…
 * (E-RTMP v2, "Enhancing NetConnection connect Command"): the FourCCs it takes in `fourCcList`
 * (`"*"` for any) and in the v2 info maps with `CanDecode | CanForward` (what it receives is
 * decoded or forwarded by its consumer), and `capsEx` for multitrack, ModEx and the nanosecond
 * offset, which the tag parser reads. Empty lists announce nothing (a legacy connect).
 *
 * @example
 * ```ts
 * import { playerCapabilities } from "./capabilities.ts";
 * console.log(playerCapabilities({ video: ["*"], audio: ["*"] }).capsEx); // 14
 * console.log(playerCapabilities({ video: ["hvc1"] }).videoFourCcInfoMap); // { hvc1: 5 }
 * console.log(playerCapabilities({})); // {}
 * ```
 * @param codecs Video and audio FourCCs, or `["*"]` for any.
 * @returns The fields to put in the `connect` command object (none for no codecs).
 */
export function playerCapabilities(
  codecs: { video?: readonly string[]; audio?: readonly string[] },
): EnhancedCapabilities {
  const video = codecs.video ?? [];
  const audio = codecs.audio ?? [];
  if (video.length + audio.length === 0) return {};
  const bits = FourCcInfoMask.CanDecode | FourCcInfoMask.CanForward;
  const map = (list: readonly string[]): Record<string, number> =>
    Object.fromEntries(list.map((c) => [c, bits]));
  const out: EnhancedCapabilities = { fourCcList: [...new Set([...video, ...audio])] };
  if (video.length > 0) out.videoFourCcInfoMap = map(video);
  if (audio.length > 0) out.audioFourCcInfoMap = map(audio);
  out.capsEx = CapsExMask.Multitrack | CapsExMask.ModEx | CapsExMask.TimestampNanoOffset;
  return out;
}

/**
 * Adds the `CapsExMask.Reconnect` bit to a client's capabilities: the client handles
 * `NetConnection.Connect.ReconnectRequest` (E-RTMP v2, "Reconnect Request"), so a server may
 * send it one before draining. The other fields are kept.
 *
 * @example
 * ```ts
 * import { publisherCapabilities, withReconnect } from "./capabilities.ts";
 * console.log(withReconnect({}).capsEx); // 1
 * console.log(withReconnect(publisherCapabilities({ video: ["hvc1"] })).capsEx); // 7
 * ```
 * @param capabilities What the client announces otherwise.
 * @returns A new object with the bit set.
 */
export function withReconnect(capabilities: EnhancedCapabilities): EnhancedCapabilities {
  return { ...capabilities, capsEx: (capabilities.capsEx ?? 0) | CapsExMask.Reconnect };
}
