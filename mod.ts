/**
 * @x/rtmp — a pure-TypeScript RTMP ingest server and push client for Deno, Bun and Node.
 *
 * - {@linkcode RtmpServer}: accepts publishers, decides each stream key through an async hook
 *   before the stream starts, yields typed packets (legacy FLV and Enhanced RTMP).
 * - {@linkcode RtmpClient}: publishes to `rtmp://` and `rtmps://` servers.
 * - The sans-IO protocol core is in `@x/rtmp/protocol`; socket adapters in `@x/rtmp/socket`.
 *
 * @example Ingest with a key hook
 * ```ts
 * import { RtmpServer } from "./mod.ts";
 * const server = await RtmpServer.listen({
 *   port: 1935,
 *   onPublish: async ({ name }) => name === "secret",
 * });
 * for await (const session of server) {
 *   for await (const packet of session) console.log(packet.type, packet.timestamp);
 * }
 * ```
 *
 * @example Push
 * ```ts
 * import { RtmpClient } from "./mod.ts";
 * await using client = await RtmpClient.connect("rtmp://127.0.0.1/live/secret");
 * await client.sendAudioSequenceHeader(0, new Uint8Array([0x11, 0x90]));
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./server.ts";
export * from "./client.ts";
export { FlvFileReader, FlvFileWriter } from "./flv/file.ts";
export type { FlvFileReaderOptions, FlvFileWriterOptions } from "./flv/file.ts";
export { recordPackets, type RecordResult } from "./flv/recorder.ts";
export { FlvDemuxStream, FlvMuxStream } from "./flv/streams.ts";
export type { FlvDemuxStreamOptions, FlvMuxStreamOptions } from "./flv/streams.ts";
// Packet helpers: what kind of frame a packet is, defined once in protocol/.
export {
  isKeyframe,
  isKeyframePayload,
  isSequenceHeader,
  isSequenceHeaderPayload,
  messageTypeOf,
  packetFromMessage,
} from "./protocol/packet.ts";
export {
  AvcPacketType,
  isVideoKeyframe,
  isVideoSequenceHeader,
  VideoCodecId,
  VideoFrameType,
  VideoPacketType,
} from "./protocol/video_tag.ts";
export {
  AacPacketType,
  AudioPacketType,
  isAudioSequenceHeader,
  SoundFormat,
} from "./protocol/audio_tag.ts";
export { parseStatus, statusOf } from "./protocol/status.ts";
export { CapsExMask, FourCcInfoMask } from "./protocol/capabilities.ts";
export { metadataOf } from "./protocol/data.ts";
export { signedUrlHook, signStreamUrl, verifySignedStream } from "./auth/signed_url.ts";
export type {
  SignedStream,
  SignedStreamFailure,
  SignedStreamResult,
  SignedUrlDecision,
  SignedUrlHookOptions,
  SignStreamUrlOptions,
  UrlSecret,
  VerifySignedStreamOptions,
} from "./auth/signed_url.ts";
export { parseRtmpUrl, type RtmpUrl, splitStreamName } from "./protocol/url.ts";
