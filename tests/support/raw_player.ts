// A minimal RTMP player for tests, built from protocol/ pieces only (handshake, chunk encoder and
// decoder, commands, control messages) over node:net, so it runs on Deno, Bun and Node. It records
// everything the server sends on the play stream in order — status codes, user control events and
// media — so tests can check the exact play flow (StreamNotFound, UnpublishNotify, PublishNotify…)
// and the exact bytes of every media message. `stopReading()` turns it into a stalled player: the
// socket is no longer read, so the server's writes back up.
import { connect as tcpConnect, type Socket } from "node:net";
import type { AmfValue } from "../../protocol/amf.ts";
import { ChunkDecoder } from "../../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../../protocol/chunk_encoder.ts";
import {
  connectCommand,
  createStreamCommand,
  decodeCommand,
  encodeCommand,
  playCommand,
} from "../../protocol/command.ts";
import { statusOf } from "../../protocol/status.ts";
import { acknowledgementMessage, decodeControl } from "../../protocol/control.ts";
import { decodeData } from "../../protocol/data.ts";
import { ClientHandshake } from "../../protocol/handshake.ts";
import { MessageType, type RtmpMessage } from "../../protocol/message.ts";

/** One thing the server sent, in arrival order. */
export type PlayerEvent =
  | { kind: "status"; streamId: number; code: string; level: string; description: string }
  | { kind: "result"; transactionId: number; args: unknown[] }
  | { kind: "error"; transactionId: number; code: string }
  | { kind: "control"; type: string; streamId: number }
  | { kind: "media"; message: RtmpMessage }
  | { kind: "data"; handler: string; message: RtmpMessage };

/** Options of {@linkcode RawPlayer.connect}. */
export interface RawPlayerOptions {
  /** Enhanced RTMP FourCCs announced in `connect` (`fourCcList`). */
  fourCcList?: string[];
  /** Milliseconds for TCP connect + handshake + connect `_result`. Default 10 000. */
  timeout?: number;
}

/** Options of {@linkcode RawPlayer.play}. */
export interface RawPlayOptions {
  /** `start` argument: −2 (default) or −1 for live. */
  start?: number;
}

/** A test player. */
export class RawPlayer {
  readonly events: PlayerEvent[] = [];
  /** Bytes received after the handshake. */
  bytesReceived = 0;
  /** Set once the socket closed (by either side). */
  closed = false;
  readonly #socket: Socket;
  readonly #decoder = new ChunkDecoder({ maxMessageSize: 32 << 20 });
  readonly #encoder = new ChunkEncoder();
  readonly #handshake = new ClientHandshake();
  #handshakeDone = false;
  #ackWindow = 0;
  #lastAck = 0;
  #tx = 1;
  #waiters: Array<() => void> = [];
  #error: Error | null = null;
  readonly #closedPromise: Promise<void>;
  #resolveHandshake!: () => void;
  readonly #handshaken = new Promise<void>((resolve) => this.#resolveHandshake = resolve);

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#closedPromise = new Promise((resolve) => {
      socket.on("close", () => {
        this.closed = true;
        this.#wake();
        resolve();
      });
    });
    socket.on("error", (e: Error) => {
      this.#error ??= e;
      this.#wake();
    });
    socket.on("data", (chunk: Uint8Array) => this.#onData(new Uint8Array(chunk)));
  }

  /**
   * Connects (TCP, handshake, `connect` to `app`) and resolves once `_result` arrived.
   * @param url `rtmp://host:port/app`.
   * @param options FourCCs, timeout.
   * @returns The connected player.
   */
  static async connect(url: string, options: RawPlayerOptions = {}): Promise<RawPlayer> {
    const u = new URL(url);
    const app = u.pathname.replace(/^\//, "").split("/")[0];
    const socket = tcpConnect({ host: u.hostname, port: Number(u.port || 1935) });
    socket.setNoDelay(true);
    const player = new RawPlayer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    socket.write(player.#handshake.start());
    await player.#handshaken;
    const tcUrl = `rtmp://${u.host}/${app}`;
    player.#send(
      3,
      encodeCommand(
        connectCommand({
          app,
          tcUrl,
          flashVer: "LNX 9,0,124,2",
          fpad: false,
          capabilities: 15,
          audioCodecs: 4071,
          videoCodecs: 252,
          videoFunction: 1,
          ...(options.fourCcList ? { fourCcList: options.fourCcList } : {}),
        }, 1),
        { streamId: 0 },
      ),
    );
    const answer = await player.waitFor(
      (e) => (e.kind === "result" || e.kind === "error") && e.transactionId === 1,
      options.timeout ?? 10_000,
      "connect _result",
    );
    if (answer.kind === "error") {
      player.close();
      throw new Error(`connect refused: ${answer.code}`);
    }
    return player;
  }

  /**
   * `createStream` then `play`; resolves with the stream id once the stream is created (the
   * play answer is left to the test: wait for the status it expects).
   * @param name Stream name (with query).
   * @param options Play arguments.
   * @returns The message stream id.
   */
  async play(name: string, options: RawPlayOptions = {}): Promise<number> {
    const tx = ++this.#tx;
    this.#send(3, encodeCommand(createStreamCommand(tx), { streamId: 0 }));
    const r = await this.waitFor(
      (e) => e.kind === "result" && e.transactionId === tx,
      10_000,
      "createStream _result",
    );
    const streamId = Number((r as { args: unknown[] }).args[0]);
    this.#send(
      8,
      encodeCommand(playCommand(0, name, { start: options.start ?? -2 }), { streamId }),
    );
    return streamId;
  }

  /**
   * Sends a command on a stream (transaction 0, no answer awaited): `pause`, `closeStream`,
   * `receiveVideo`, or `play` again on a stream that already exists.
   * @param streamId Message stream id.
   * @param name Command name.
   * @param args Arguments after the null command object.
   */
  command(streamId: number, name: string, ...args: AmfValue[]): void {
    this.#send(
      8,
      encodeCommand({ name, transactionId: 0, commandObject: null, args }, { streamId }),
    );
  }

  /** The status codes received so far, in order. */
  codes(): string[] {
    return this.events.flatMap((e) => e.kind === "status" ? [e.code] : []);
  }

  /** Audio and video messages received so far. */
  media(): RtmpMessage[] {
    return this.events.flatMap((e) => e.kind === "media" ? [e.message] : []);
  }

  /**
   * Resolves with the first event (from the start) that matches; rejects at the deadline or
   * when the socket closes first.
   * @param match Predicate.
   * @param timeoutMs Deadline.
   * @param what For the error message.
   * @param from Index in {@linkcode RawPlayer.events} to search from.
   * @returns The event.
   */
  waitFor(
    match: (e: PlayerEvent) => boolean,
    timeoutMs: number,
    what: string,
    from = 0,
  ): Promise<PlayerEvent> {
    return new Promise((resolve, reject) => {
      let i = from;
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not seen within ${timeoutMs} ms; got ${this.#summary()}`));
      }, timeoutMs);
      const check = (): void => {
        for (; i < this.events.length; i++) {
          if (match(this.events[i])) {
            done();
            resolve(this.events[i]);
            return;
          }
        }
        if (this.closed || this.#error) {
          done();
          reject(new Error(`${what}: connection ended first (${this.#error ?? "closed"})`));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
      };
      this.#waiters.push(check);
      check();
    });
  }

  /** Resolves once the socket is closed. */
  get whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Stops reading the socket: the server's writes back up (a stalled player). */
  stopReading(): void {
    this.#socket.pause();
  }

  /** Reads the socket again after {@linkcode RawPlayer.stopReading}. */
  resumeReading(): void {
    this.#socket.resume();
  }

  /** Closes the socket. */
  close(): void {
    this.#socket.destroy();
  }

  #summary(): string {
    return this.events.slice(-12).map((e) =>
      e.kind === "media" ? `media(${e.message.type}@${e.message.timestamp})` : JSON.stringify(e)
    ).join(", ");
  }

  #send(csid: number, message: RtmpMessage): void {
    this.#socket.write(this.#encoder.encode(csid, message));
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #onData(chunk: Uint8Array): void {
    let bytes: Uint8Array | null = chunk;
    if (!this.#handshakeDone) {
      const step = this.#handshake.push(chunk);
      if (step.send) this.#socket.write(step.send);
      if (!step.done) return;
      this.#handshakeDone = true;
      this.#resolveHandshake();
      bytes = step.remainder;
      if (!bytes) return;
    }
    this.bytesReceived += bytes.length;
    let messages: RtmpMessage[];
    try {
      messages = this.#decoder.push(bytes);
    } catch (e) {
      this.#error ??= e as Error;
      this.#socket.destroy();
      return;
    }
    for (const m of messages) this.#onMessage(m);
    if (this.#ackWindow > 0 && this.bytesReceived - this.#lastAck >= this.#ackWindow) {
      this.#lastAck = this.bytesReceived;
      this.#send(2, acknowledgementMessage(this.bytesReceived % 2 ** 32));
    }
    this.#wake();
  }

  #onMessage(m: RtmpMessage): void {
    switch (m.type) {
      case MessageType.WindowAckSize: {
        const c = decodeControl(m);
        if (c.type === "WindowAckSize") this.#ackWindow = c.size;
        return;
      }
      case MessageType.UserControl: {
        const c = decodeControl(m);
        if (c.type !== "UserControl") return;
        const ev = c.event;
        if (ev.type === "PingRequest") {
          // Not answered: the test player only needs to stay connected.
          return;
        }
        this.events.push({
          kind: "control",
          type: ev.type,
          streamId: "streamId" in ev ? ev.streamId : 0,
        });
        return;
      }
      case MessageType.CommandAmf0: {
        const cmd = decodeCommand(m);
        if (cmd.name === "_result") {
          this.events.push({ kind: "result", transactionId: cmd.transactionId, args: cmd.args });
        } else if (cmd.name === "_error") {
          this.events.push({
            kind: "error",
            transactionId: cmd.transactionId,
            code: statusOf(cmd)?.code ?? "",
          });
        } else if (cmd.name === "onStatus") {
          const info = statusOf(cmd);
          this.events.push({
            kind: "status",
            streamId: m.streamId,
            code: info?.code ?? "",
            level: info?.level ?? "",
            description: String(info?.description ?? ""),
          });
        }
        return;
      }
      case MessageType.Audio:
      case MessageType.Video:
        this.events.push({ kind: "media", message: m });
        return;
      case MessageType.DataAmf0: {
        let handler = "";
        try {
          handler = decodeData(m).handler;
        } catch {
          // Kept with an empty handler: the test compares bytes.
        }
        this.events.push({ kind: "data", handler, message: m });
        return;
      }
    }
  }
}
