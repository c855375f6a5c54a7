/**
 * The batch path of the HTTP-FLV / WebSocket-FLV output: a viewer whose source offers
 * {@linkcode PacketBatches} (the server's stream hub) is written without a promise per packet.
 * Its source marks it ready when media arrives; the process-wide ready queue runs every ready
 * viewer once per wave; each writes what is queued (tags encoded once per packet for all
 * viewers, {@linkcode flvTagBytes}) and stops only when its socket reports a full buffer, to go
 * on after `drain`. So a slow viewer holds at most its socket buffer here; its backlog stays in
 * the hub's bounded queue, where frames are dropped by policy.
 *
 * @module
 */

import { encodeFlvHeader } from "../protocol/flv.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import { flvTagBytes } from "../flv/streams.ts";
import { flvHeaderFromMetadata } from "../flv/tags.ts";
import { sendGathered } from "../socket/gather.ts";
import { type ReadyQueue, readyQueue, type ReadyTask } from "../util/ready_queue.ts";
import type { PacketBatches } from "./types.ts";

/**
 * Where one viewer's bytes go.
 *
 * @example
 * ```ts
 * import type { ViewerSink } from "./viewer_pump.ts";
 * const sink: ViewerSink = {
 *   write: () => true,
 *   drained: () => Promise.resolve(),
 *   signal: new AbortController().signal,
 * };
 * ```
 */
export interface ViewerSink {
  /** Writes; `false` when the socket buffer is full. */
  write(bytes: Uint8Array): boolean;
  /** Resolves on drain, or when the viewer is gone. */
  drained(): Promise<void>;
  /** Aborts when the viewer is gone. */
  signal: AbortSignal;
}

/**
 * Writes a batch source's packets to a sink as FLV until the source ends or the viewer leaves.
 *
 * @example
 * ```ts ignore
 * const sent = await pumpBatches(source.batches!, sink, new WeakMap());
 * ```
 *
 * @param batches The source.
 * @param sink The viewer.
 * @param cache Encoded tags by packet, shared by every viewer of the output.
 * @param queue Where the viewer waits to write (asked at each wake-up): the process-wide ready
 * queue (at once), or one with a delay for merged writes.
 * @returns Resolves with the bytes sent; rejects when a packet has no valid FLV form.
 */
export function pumpBatches(
  batches: PacketBatches,
  sink: ViewerSink,
  cache: WeakMap<MediaPacket, Uint8Array>,
  queue: () => ReadyQueue = () => readyQueue,
): Promise<number> {
  return new ViewerPump(batches, sink, cache, queue).finished;
}

class ViewerPump implements ReadyTask {
  readonly finished: Promise<number>;
  readonly #batches: PacketBatches;
  readonly #sink: ViewerSink;
  readonly #cache: WeakMap<MediaPacket, Uint8Array>;
  readonly #queue: () => ReadyQueue;
  #sent = 0;
  readonly #pieces: Uint8Array[] = [];
  #started = false;
  #waiting = false;
  #over = false;
  #resolve!: (sent: number) => void;
  #reject!: (e: unknown) => void;
  readonly #wake = (): void => this.#queue().add(this);
  // The socket took its buffer: go on at once (the merge delay is for new media only).
  readonly #resume = (): void => {
    this.#waiting = false;
    readyQueue.add(this);
  };

  constructor(
    batches: PacketBatches,
    sink: ViewerSink,
    cache: WeakMap<MediaPacket, Uint8Array>,
    queue: () => ReadyQueue,
  ) {
    this.#batches = batches;
    this.#sink = sink;
    this.#cache = cache;
    this.#queue = queue;
    this.finished = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    batches.onReady(this.#wake);
    sink.signal.addEventListener("abort", this.#resume, { once: true });
    readyQueue.add(this);
  }

  /** @param bytes One gathered buffer for the sink. @returns `false` once it is full. */
  send(bytes: Uint8Array): boolean {
    return this.#sink.write(bytes);
  }

  run(): void {
    if (this.#over || this.#waiting) return;
    const sink = this.#sink;
    for (;;) {
      if (sink.signal.aborted) return this.#end();
      const packets = this.#batches.take();
      if (packets.length === 0) {
        if (this.#batches.done) this.#end();
        return;
      }
      const pieces = this.#pieces;
      if (!this.#started) {
        this.#started = true;
        // Header flags from the stream's metadata (which the hub sends first): browser players
        // wait for every track the header announces. Unknown: announce both, as writers do.
        const h = flvHeaderFromMetadata(packets[0]) ?? { audio: true, video: true };
        pieces.push(encodeFlvHeader({ version: 1, audio: h.audio, video: h.video }));
      }
      for (const p of packets) {
        const bytes = flvTagBytes(p, this.#cache);
        if (bytes !== null) pieces.push(bytes);
      }
      for (const p of pieces) this.#sent += p.length;
      // One write (an HTTP chunk, a WebSocket message) per wave instead of one per tag,
      // whatever the runtime's server does.
      const ok = sendGathered(pieces, this);
      pieces.length = 0;
      if (!ok) {
        this.#waiting = true;
        sink.drained().then(this.#resume, this.#resume);
        return;
      }
    }
  }

  failed(error: unknown): void {
    if (this.#over) return;
    this.#over = true;
    this.#detach();
    this.#reject(error);
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#detach();
    this.#resolve(this.#sent);
  }

  #detach(): void {
    this.#batches.onReady(null);
    this.#sink.signal.removeEventListener("abort", this.#resume);
  }
}
