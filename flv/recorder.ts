/**
 * Records a publish session to an FLV file, tag for tag: media payloads are written as they
 * arrived, and `@setDataFrame` is stripped from metadata so the file carries a plain
 * `onMetaData` script tag, as FLV players expect (FLV 10.1 E.5).
 *
 * @module
 */

import { FlvFileWriter } from "./file.ts";
import { unwrapSetDataFrame } from "../protocol/data.ts";
import { MessageType } from "../protocol/message.ts";
import type { MediaPacket } from "../protocol/packet.ts";

/**
 * What a recording produced.
 *
 * @example
 * ```ts
 * import type { RecordResult } from "./recorder.ts";
 * function ok(r: RecordResult): boolean { return r.error === null; }
 * ```
 */
export interface RecordResult {
  /** The file written. */
  path: string;
  /** Tags written. */
  tags: number;
  /** Bytes of tag payloads written. */
  payloadBytes: number;
  /** @deprecated The same as `payloadBytes` (tag payload bytes, not the file size); kept for 0.1 callers. */
  bytes: number;
  /** The error that ended the recording early (disk full…), or `null`. */
  error: Error | null;
}

/**
 * Writes every packet of an iterable (a publish session) into an FLV file. A write error
 * ends the recording, not the iteration: the rest of the packets are drained so the
 * publisher is never stalled by a broken disk.
 *
 * @example
 * ```ts
 * import { recordPackets } from "./recorder.ts";
 * import type { PublishSession } from "./publish_session.ts";
 * async function record(session: PublishSession): Promise<void> {
 *   const result = await recordPackets(session, "/tmp/out.flv");
 *   console.log(result.tags, result.error?.message ?? "ok");
 * }
 * ```
 *
 * @param packets The packets.
 * @param path File to create.
 * @returns What was written.
 */
export async function recordPackets(
  packets: AsyncIterable<MediaPacket>,
  path: string,
): Promise<RecordResult> {
  const result: RecordResult = { path, tags: 0, payloadBytes: 0, bytes: 0, error: null };
  let writer: FlvFileWriter | null = null;
  try {
    writer = await FlvFileWriter.create(path, { audio: true, video: true });
  } catch (e) {
    result.error = e as Error;
  }
  for await (const packet of packets) {
    if (!writer) continue;
    try {
      const data = packet.type === "data" ? scriptBody(packet) : packet.payload;
      if (!data) continue;
      const type = packet.type === "audio"
        ? MessageType.Audio
        : packet.type === "video"
        ? MessageType.Video
        : MessageType.DataAmf0;
      await writer.writeTag({ type, timestamp: packet.timestamp, streamId: 0, data });
      result.tags++;
      result.payloadBytes += data.length;
      result.bytes = result.payloadBytes;
    } catch (e) {
      result.error = e as Error;
      await writer.close().catch(() => {});
      writer = null;
    }
  }
  if (writer) {
    try {
      await writer.close();
    } catch (e) {
      result.error = e as Error;
    }
  }
  return result;
}

/** The script-tag body for a data packet: AMF0 only, `@setDataFrame` removed. */
function scriptBody(packet: MediaPacket & { type: "data" }): Uint8Array | null {
  return packet.amf3 ? null : unwrapSetDataFrame(packet.payload);
}
