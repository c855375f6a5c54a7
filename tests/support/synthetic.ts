// A synthetic H.264 + AAC stream as FLV tags, for client tests that need exact control over
// keyframes and timestamps without ffmpeg: onMetaData, the two sequence headers, then video
// every 40 ms (a keyframe every `gop` frames) and audio every 23 ms, interleaved by time. Every
// frame's payload is unique (it carries its index), so a lost, repeated or reordered frame shows.
import { ecmaArray } from "../../protocol/amf.ts";
import { encodeAmf0 } from "../../protocol/amf0.ts";
import type { FlvTag } from "../../protocol/flv.ts";
import type { MediaPacket } from "../../protocol/packet.ts";

export interface SyntheticOptions {
  /** Video frames (default 100). */
  frames?: number;
  /** Frames per GOP (default 10). */
  gop?: number;
  /** Added to every timestamp (default 0). */
  base?: number;
  /** Bytes of each video frame (default 600); audio frames are a quarter. */
  frameBytes?: number;
}

function body(prefix: number[], index: number, size: number): Uint8Array {
  const b = new Uint8Array(prefix.length + Math.max(size, 4));
  b.set(prefix, 0);
  const v = new DataView(b.buffer);
  v.setUint32(prefix.length, index);
  for (let i = prefix.length + 4; i < b.length; i++) b[i] = (index * 31 + i) & 0xff;
  return b;
}

/** The tags of a synthetic stream. */
export function syntheticTags(options: SyntheticOptions = {}): FlvTag[] {
  const frames = options.frames ?? 100;
  const gop = options.gop ?? 10;
  const base = options.base ?? 0;
  const size = options.frameBytes ?? 600;
  const tags: FlvTag[] = [
    {
      type: 18,
      timestamp: base,
      streamId: 0,
      data: encodeAmf0([
        "onMetaData",
        ecmaArray({ width: 320, height: 240, videocodecid: 7, audiocodecid: 10, framerate: 25 }),
      ]),
    },
    {
      type: 9,
      timestamp: base,
      streamId: 0,
      data: new Uint8Array([
        0x17,
        0,
        0,
        0,
        0,
        1,
        0x64,
        0,
        0x1e,
        0xff,
        0xe1,
        0,
        4,
        0x67,
        0x64,
        0,
        0x1e,
      ]),
    },
    { type: 8, timestamp: base, streamId: 0, data: new Uint8Array([0xaf, 0, 0x12, 0x10]) },
  ];
  const duration = frames * 40;
  let v = 0;
  let a = 0;
  while (v < frames || a * 23 < duration) {
    const vt = v * 40;
    const at = a * 23;
    if (v < frames && (vt <= at || a * 23 >= duration)) {
      const key = v % gop === 0;
      tags.push({
        type: 9,
        timestamp: base + vt,
        streamId: 0,
        data: body([key ? 0x17 : 0x27, 1, 0, 0, 0], v, size),
      });
      v++;
    } else {
      tags.push({
        type: 8,
        timestamp: base + at,
        streamId: 0,
        data: body([0xaf, 1], a, size >> 2),
      });
      a++;
    }
  }
  return tags;
}

/** `type timestamp bytes` records of tags or packets, for deepEqual. */
export function records(
  items: Array<FlvTag | MediaPacket>,
  options: { media?: boolean } = {},
): string[] {
  const out: string[] = [];
  for (const it of items) {
    const isTag = "data" in it && it.data instanceof Uint8Array;
    const type = isTag ? (it as FlvTag).type : ({ audio: 8, video: 9, data: 18 } as const)[
      (it as MediaPacket).type
    ];
    if (options.media && type !== 8 && type !== 9) continue;
    const bytes = isTag ? (it as FlvTag).data : (it as MediaPacket).payload;
    out.push(`${type} ${it.timestamp} ${hash(bytes)}:${bytes.length}`);
  }
  return out;
}

/** FNV-1a over the bytes: enough to tell payloads apart in a diff. */
function hash(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16);
}
