/**
 * Moves one RTMP player's queued messages to its socket without a promise per message: the
 * player's subscriber marks it ready when media arrives, the process-wide ready queue runs it
 * once per wave, and it hands its whole queue to the connection in one write (each message
 * chunked once for every player of the stream, `HubMessage.chunked`). Only backpressure makes
 * a promise: then it waits until the socket takes more.
 *
 * @module
 */

import type { Subscriber } from "../hub/subscriber.ts";
import type { ServerSession } from "../session/server_session.ts";
import type { OutputPump } from "../util/output_pump.ts";
import { readyQueue, type ReadyTask } from "../util/ready_queue.ts";

/** @internal A stream a connection plays. */
export interface Player {
  streamId: number;
  key: string;
  sub: Subscriber;
  /** When the stream's publisher left (ms), or 0. */
  unpublishedAt: number;
  startedAt: number;
  /** Skip the first `publish` signal when the play was accepted because of it. */
  skipPublishSignal: boolean;
  ended: boolean;
}

/** @internal What a player's pump needs from its connection. */
export interface PlayerHost {
  readonly session: ServerSession;
  readonly pump: OutputPump;
  /** The publisher came or went: deadlines change. */
  signalled(): void;
  /** The socket failed: close the connection. */
  failed(error: unknown): void;
}

/** A player's batch of messages per socket write. */
const PLAYER_BATCH = 256 << 10;

/**
 * @internal The delivery task of one player.
 *
 * @example
 * ```ts ignore
 * new PlayerPump(player, host).start();
 * ```
 */
export class PlayerPump implements ReadyTask {
  readonly #player: Player;
  readonly #host: PlayerHost;
  #waiting = false;
  readonly #wake = (): void => readyQueue.add(this);
  readonly #resume = (): void => {
    this.#waiting = false;
    readyQueue.add(this);
  };
  readonly #fail = (e: unknown): void => this.failed(e);

  /**
   * @param player The player.
   * @param host Its connection.
   */
  constructor(player: Player, host: PlayerHost) {
    this.#player = player;
    this.#host = host;
  }

  /** Starts delivering (what is queued already goes out in the next wave). */
  start(): void {
    this.#player.sub.onReady(this.#wake);
    readyQueue.add(this);
  }

  /** Moves everything queued to the socket, until it is empty or the socket is full. */
  run(): void {
    const p = this.#player;
    if (this.#waiting || p.ended) return;
    const { session, pump } = this.#host;
    for (;;) {
      const batch = p.sub.take(PLAYER_BATCH);
      if (batch.length === 0) return;
      const chunkSize = session.outgoingChunkSize;
      for (const e of batch) {
        if (!("signal" in e)) {
          session.queueEncoded(e.chunked(chunkSize, p.streamId));
        } else if (e.signal === "unpublish") {
          session.notifyUnpublish(p.streamId);
          p.unpublishedAt = Date.now();
          this.#host.signalled();
        } else {
          p.unpublishedAt = 0;
          this.#host.signalled();
          if (p.skipPublishSignal) p.skipPublishSignal = false;
          else session.notifyPublish(p.streamId);
        }
      }
      if (!pump.flushNow()) {
        this.#waiting = true;
        pump.writable().then(this.#resume, this.#fail);
        return;
      }
    }
  }

  /** @param error Why the socket failed. */
  failed(error: unknown): void {
    this.#player.sub.onReady(null);
    this.#host.failed(error);
  }
}
