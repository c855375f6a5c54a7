/**
 * An HTTP-FLV viewer of the load generator: a `node:http` GET of `/APP/NAME.flv` whose body is
 * walked tag by tag without keeping it (only the 11-byte tag headers and the last 4 bytes of
 * each AVC NALU video tag, where the paced publisher put the frame's sequence number, are read).
 *
 * @module
 */

import { type ClientRequest, request } from "node:http";
import { now } from "./rtmp_conn.ts";

/** An open HTTP-FLV viewer. */
export interface HttpViewer {
  /** Resolves with the time the response headers came (rejects on a non-200 answer). */
  started: Promise<number>;
  /** Body bytes received. */
  bytes: number;
  /** Why it ended (`null` while open). */
  closedWith: string | null;
  /** Called for each video frame (AVC NALU tag) with its sequence number and arrival time. */
  onVideo: ((seq: number, at: number) => void) | null;
  destroy(): void;
}

/** Walks an FLV byte stream; keeps only the bytes of the tag in progress. */
class FlvWalker {
  #rest: Uint8Array | null = null;
  #headerDone = false;
  readonly #onVideo: (seq: number, at: number) => void;

  constructor(onVideo: (seq: number, at: number) => void) {
    this.#onVideo = onVideo;
  }

  push(chunk: Uint8Array, at: number): void {
    let b = chunk;
    if (this.#rest) {
      b = new Uint8Array(this.#rest.length + chunk.length);
      b.set(this.#rest);
      b.set(chunk, this.#rest.length);
    }
    let p = 0;
    if (!this.#headerDone) {
      // FLV header (DataOffset at bytes 5–8) then PreviousTagSize0 (FLV spec E.2, E.3).
      if (b.length < 13) return void (this.#rest = b);
      p = new DataView(b.buffer, b.byteOffset).getUint32(5) + 4;
      this.#headerDone = true;
    }
    while (b.length - p >= 11) {
      const size = (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
      if (b.length - p < 15 + size) break;
      // Video tag, AVC, AVCPacketType 1 (NALU): its last 4 bytes carry the sequence number.
      if (b[p] === 9 && size >= 9 && (b[p + 11] & 0x0f) === 7 && b[p + 12] === 1) {
        const end = p + 11 + size;
        const seq = ((b[end - 4] << 24) | (b[end - 3] << 16) | (b[end - 2] << 8) | b[end - 1]) >>>
          0;
        this.#onVideo(seq, at);
      }
      p += 15 + size;
    }
    this.#rest = p < b.length ? b.slice(p) : null;
  }
}

/**
 * Opens an HTTP-FLV viewer.
 *
 * @param options Server port, path and the local address to connect from.
 * @returns The viewer; set `onVideo` before media flows to see frames.
 */
export function openHttpViewer(
  options: { port: number; path: string; localAddress?: string },
): HttpViewer {
  let req: ClientRequest;
  const viewer: HttpViewer = {
    started: null as unknown as Promise<number>,
    bytes: 0,
    closedWith: null,
    onVideo: null,
    destroy: () => {
      if (viewer.closedWith === null) viewer.closedWith = "destroyed";
      req.destroy();
    },
  };
  const walker = new FlvWalker((seq, at) => viewer.onVideo?.(seq, at));
  viewer.started = new Promise<number>((resolve, reject) => {
    req = request({
      host: "127.0.0.1",
      port: options.port,
      path: options.path,
      localAddress: options.localAddress,
      agent: false,
    }, (res) => {
      if (res.statusCode !== 200) {
        viewer.closedWith = `HTTP ${res.statusCode}`;
        res.resume();
        reject(new Error(`HTTP-FLV viewer: expected 200, got ${res.statusCode}`));
        return;
      }
      resolve(now());
      res.on("data", (d: Uint8Array) => {
        viewer.bytes += d.length;
        walker.push(d, now());
      });
      res.on("end", () => viewer.closedWith ??= "ended");
      res.on("error", (e) => viewer.closedWith ??= e.message);
    });
    req.on("error", (e) => {
      viewer.closedWith ??= e.message;
      reject(e);
    });
    req.end();
  });
  viewer.started.catch(() => {});
  return viewer;
}
