/**
 * The client: publishes to and plays from `rtmp://` and `rtmps://` servers.
 *
 * - {@linkcode RtmpClient.connect} publishes (`client/publisher.ts`).
 * - {@linkcode RtmpClient.play} / {@linkcode RtmpPlayer.open} play: iterate the player for
 *   the same typed {@linkcode MediaPacket}s the server yields (`client/player.ts`).
 * - Both answer Adobe / Limelight `authmod` challenges with `rtmp://user:pass@…` or
 *   `credentials`, and can reconnect by themselves (`reconnect`), following E-RTMP v2
 *   `NetConnection.Connect.ReconnectRequest`.
 *
 * @example Publish an AVC + AAC stream
 * ```ts
 * import { RtmpClient } from "./client.ts";
 *
 * await using client = await RtmpClient.connect("rtmp://127.0.0.1/live/key");
 * await client.sendMetadata({ width: 1280, height: 720, videocodecid: 7, audiocodecid: 10 });
 * await client.sendVideoSequenceHeader(0, new Uint8Array([1, 0x64, 0, 0x1f, 0xff]));
 * await client.sendAudioSequenceHeader(0, new Uint8Array([0x12, 0x10]));
 * await client.sendVideo(0, new Uint8Array([0, 0, 0, 1, 0x65]), { keyframe: true });
 * await client.sendAudio(0, new Uint8Array([0x21, 0x00]));
 * ```
 *
 * @example Play a stream, with reconnecting
 * ```ts
 * import { RtmpClient } from "./client.ts";
 *
 * await using player = await RtmpClient.play("rtmp://127.0.0.1/live/key", { reconnect: true });
 * for await (const packet of player) console.log(packet.type, packet.timestamp);
 * ```
 *
 * @module
 */

export {
  type ClientEvent,
  type ClientSessionEvent,
  RtmpClient,
  type RtmpClientOptions,
  type StatusCode,
  type StatusLevel,
  type StatusObject,
} from "./client/publisher.ts";
export {
  type PlayEndReason,
  type PlayerEvent,
  RtmpPlayer,
  type RtmpPlayOptions,
} from "./client/player.ts";
export type { Credentials, ReconnectOptions } from "./client/connection.ts";
export type { AudioPacket, DataPacket, MediaPacket, VideoPacket } from "./protocol/packet.ts";
export { isRtmpError, RtmpError } from "./errors.ts";
export type { RtmpErrorCode, RtmpErrorOptions } from "./errors.ts";
export type * from "./protocol/vocabulary.ts";
export type {
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddress,
  ProxyProtocolOptions,
  SocketAdapter,
  TlsConnectOptions,
  TlsListenOptions,
} from "./socket/types.ts";
