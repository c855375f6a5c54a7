/**
 * The sans-IO protocol core of @x/rtmp: bytes in, messages out, and back. Nothing here touches
 * a socket or a timer, so every piece runs and is tested the same on Deno, Bun and Node.
 *
 * - Handshake (simple and FP9 digest): {@linkcode ServerHandshake}, {@linkcode ClientHandshake}
 * - Chunk stream codec: {@linkcode ChunkDecoder}, {@linkcode ChunkEncoder}; a shared memory
 *   bound for many decoders: {@linkcode ByteBudget}
 * - AMF0 / AMF3: {@linkcode encodeAmf0}, {@linkcode decodeAmf0}, {@linkcode encodeAmf3}, {@linkcode decodeAmf3}
 * - Messages: protocol control, user control, commands, data, aggregates
 * - Status info objects: {@linkcode parseStatus}, {@linkcode statusOf}
 * - Enhanced RTMP capabilities: {@linkcode FourCcInfoMask}, {@linkcode CapsExMask}
 * - FLV tags (legacy + Enhanced RTMP v1/v2) and the FLV container
 * - Media packets and their predicates: {@linkcode packetFromMessage}, {@linkcode isKeyframe},
 *   {@linkcode isSequenceHeader}
 * - URLs: {@linkcode parseRtmpUrl}
 *
 * @example Decode the messages in some bytes
 * ```ts
 * import { ChunkDecoder, decodeCommand, MessageType } from "./mod.ts";
 * const decoder = new ChunkDecoder();
 * for (const message of decoder.push(new Uint8Array([3, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 5]))) {
 *   if (message.type === MessageType.CommandAmf0) console.log(message.payload.length);
 * }
 * console.log(typeof decodeCommand); // function
 * ```
 *
 * @module
 */

export * from "./message.ts";
export * from "./bytes.ts";
export * from "./handshake.ts";
export * from "./byte_budget.ts";
export * from "./block_pool.ts";
export * from "./free_now.ts";
export * from "./chunk_decoder.ts";
export * from "./chunk_encoder.ts";
export * from "./amf.ts";
export * from "./amf0.ts";
export * from "./amf3.ts";
export * from "./control.ts";
export * from "./command.ts";
export * from "./status.ts";
export * from "./capabilities.ts";
export * from "./data.ts";
export * from "./aggregate.ts";
export * from "./fourcc.ts";
export * from "./video_tag.ts";
export * from "./audio_tag.ts";
export * from "./flv.ts";
export * from "./packet.ts";
export * from "./url.ts";
