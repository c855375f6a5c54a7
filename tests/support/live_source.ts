// A stand-in for the stream hub in HTTP-FLV tests: every subscriber gets the packets of an FLV
// file from the start (metadata, sequence headers, first GOP), then the rest, optionally looped
// with increasing timestamps and paced like a live stream. Pull-based: a packet is produced only
// when the subscriber asks for the next one, so `pulledBytes` shows how far the output read ahead.
import { readFile } from "node:fs/promises";
import { FlvDemuxer, type FlvTag } from "../../protocol/flv.ts";
import { flvTagToPacket } from "../../flv/tags.ts";
import { isAudioSequenceHeader } from "../../protocol/audio_tag.ts";
import { isVideoSequenceHeader } from "../../protocol/video_tag.ts";
import type { LiveSource } from "../../http/types.ts";
import type { MediaPacket } from "../../protocol/packet.ts";

/** Options of {@linkcode FakeLive}. */
export interface FakeLiveOptions {
  /** Repeat the media forever, timestamps continuing (default false: end after one pass). */
  loop?: boolean;
  /** Send each packet when its timestamp is due, like a live publisher (default false). */
  realtime?: boolean;
}

/** One subscription, as the test sees it. */
export interface FakeSubscription {
  /** Packets handed to the output so far. */
  pulled: number;
  /** Payload bytes handed to the output so far. */
  pulledBytes: number;
  /** `close()` calls seen. */
  closes: number;
}

/** All packets of an FLV file, in order. */
export async function packetsOfFlv(path: string): Promise<MediaPacket[]> {
  const demuxer = new FlvDemuxer();
  const tags: FlvTag[] = demuxer.push(new Uint8Array(await readFile(path)));
  demuxer.end();
  return tags.map(flvTagToPacket).filter((p): p is MediaPacket => p !== null);
}

/** Metadata and sequence headers: sent once, at the start, not again on each loop. */
function isConfig(p: MediaPacket): boolean {
  if (p.type === "data") return true;
  if (p.tag === null) return false;
  return p.type === "video" ? isVideoSequenceHeader(p.tag) : isAudioSequenceHeader(p.tag);
}

/** A fake live stream serving every subscriber the same packets. */
export class FakeLive {
  readonly packets: MediaPacket[];
  readonly subscriptions: FakeSubscription[] = [];
  readonly #options: FakeLiveOptions;

  constructor(packets: MediaPacket[], options: FakeLiveOptions = {}) {
    this.packets = packets;
    this.#options = options;
  }

  /** Opens one subscription. */
  subscribe(): LiveSource {
    const sub: FakeSubscription = { pulled: 0, pulledBytes: 0, closes: 0 };
    this.subscriptions.push(sub);
    let closed = false;
    let wake: (() => void) | null = null;
    const all = this.packets;
    const media = all.filter((p) => !isConfig(p));
    const first = media.length > 0 ? media[0].timestamp : 0;
    const last = media.length > 0 ? media[media.length - 1].timestamp : 0;
    // One frame interval past the last frame, so the loop's first frame does not repeat a time.
    const period = last - first + (media.length > 1 ? (last - first) / (media.length - 1) : 40);
    const { loop = false, realtime = false } = this.#options;
    const start = Date.now();
    const wait = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
        wake = done;
      });
    async function* generate(): AsyncGenerator<MediaPacket> {
      for (let round = 0; !closed; round++) {
        const list = round === 0 ? all : media;
        const offset = Math.round(round * period);
        for (const p of list) {
          if (closed) return;
          const packet = offset === 0 ? p : { ...p, timestamp: p.timestamp + offset };
          if (realtime && packet.type !== "data") {
            const due = start + (packet.timestamp - first);
            if (due > Date.now()) await wait(due - Date.now());
            if (closed) return;
          }
          sub.pulled++;
          sub.pulledBytes += packet.payload.length;
          yield packet;
        }
        if (!loop) return;
      }
    }
    return {
      packets: generate(),
      close(): void {
        sub.closes++;
        closed = true;
        (wake as (() => void) | null)?.();
      },
    };
  }
}
