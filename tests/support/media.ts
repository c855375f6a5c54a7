// Shared helpers for tests that compare what arrived with a source FLV.
import { FlvFileReader } from "../../flv_file.ts";
import type { FlvTag } from "../../protocol/flv.ts";
import type { MediaPacket } from "../../protocol/packet.ts";
import type { PublishSession } from "../../session/publish_session.ts";

/** All tags of an FLV file. */
export async function readFlvTags(path: string): Promise<FlvTag[]> {
  const tags: FlvTag[] = [];
  await using reader = await FlvFileReader.open(path);
  for await (const tag of reader) tags.push(tag);
  return tags;
}

/** Audio and video tags only, as comparable records. */
export function mediaOfTags(
  tags: FlvTag[],
): Array<{ type: number; timestamp: number; data: Uint8Array }> {
  return tags.filter((t) => t.type === 8 || t.type === 9).map((t) => ({
    type: t.type,
    timestamp: t.timestamp,
    data: t.data,
  }));
}

/** Audio and video packets as the same records. */
export function mediaOfPackets(
  packets: MediaPacket[],
): Array<{ type: number; timestamp: number; data: Uint8Array }> {
  return packets.filter((p) => p.type !== "data").map((p) => ({
    type: p.type === "audio" ? 8 : 9,
    timestamp: p.timestamp,
    data: p.payload,
  }));
}

/** Collects every packet of a session until it ends. */
export async function collect(session: PublishSession): Promise<MediaPacket[]> {
  const packets: MediaPacket[] = [];
  for await (const p of session) packets.push(p);
  return packets;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `promise`, or rejects after `ms` with a message naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
