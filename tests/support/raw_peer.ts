// A raw RTMP client for hostile-client tests, built from protocol/ pieces (handshake, chunk
// encoder and decoder, commands) over node:net, so it runs on Deno, Bun and Node. Unlike a real
// encoder it does exactly what the test says: connect and go silent, announce a message and
// send half of it, flood commands, publish a key twice on one connection. It binds to a chosen
// loopback source address (`127.0.0.N`) so a test can play many peers. Everything the server
// sends is decoded and kept in order (results, errors, statuses), bounded by `keepEvents`.
import { connect as tcpConnect, type Socket } from "node:net";
import { ChunkDecoder } from "../../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../../protocol/chunk_encoder.ts";
import {
  type Command,
  connectCommand,
  createStreamCommand,
  decodeCommand,
  encodeCommand,
  publishCommand,
} from "../../protocol/command.ts";
import { statusOf } from "../../protocol/status.ts";
import { acknowledgementMessage, decodeControl } from "../../protocol/control.ts";
import { ClientHandshake } from "../../protocol/handshake.ts";
import { MessageType, type RtmpMessage } from "../../protocol/message.ts";

/** One thing the server sent. */
export type PeerEvent =
  | { kind: "result"; transactionId: number; args: unknown[] }
  | { kind: "error"; transactionId: number; code: string; description: string }
  | { kind: "status"; streamId: number; code: string; level: string; description: string };

/** Options of {@linkcode RawPeer.open}. */
export interface RawPeerOptions {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Source address to bind (`127.0.0.N`). */
  localAddress?: string;
  /** Milliseconds for each awaited step. Default 10 000. */
  timeout?: number;
  /** Events kept (older ones are counted but dropped). Default 10 000. */
  keepEvents?: number;
}

/** A raw client connection. */
export class RawPeer {
  /** Events received (the last `keepEvents`). */
  readonly events: PeerEvent[] = [];
  /** Counters over all events, including dropped ones. */
  readonly counts = { result: 0, error: 0, status: 0 };
  /** Set once the socket closed (by either side). */
  closed = false;
  /** When the socket closed (ms since epoch), or 0. */
  closedAt = 0;
  /** When the TCP connection was established (ms since epoch). */
  connectedAt = 0;
  /** Bytes handed to the socket by {@linkcode RawPeer.write}. */
  written = 0;
  /** The peer's encoder, for messages after connect. */
  readonly encoder = new ChunkEncoder();
  readonly #socket: Socket;
  readonly #decoder = new ChunkDecoder({ maxMessageSize: 32 << 20 });
  readonly #handshake = new ClientHandshake({ digest: false });
  readonly #timeout: number;
  readonly #keep: number;
  #handshakeDone = false;
  #received = 0;
  #ackWindow = 0;
  #lastAck = 0;
  #tx = 1;
  #waiters: Array<() => void> = [];
  #resolveHandshake!: () => void;
  readonly #handshaken = new Promise<void>((resolve) => this.#resolveHandshake = resolve);
  readonly #closedPromise: Promise<void>;

  private constructor(socket: Socket, options: RawPeerOptions) {
    this.#socket = socket;
    this.#timeout = options.timeout ?? 10_000;
    this.#keep = options.keepEvents ?? 10_000;
    this.#closedPromise = new Promise((resolve) => {
      socket.on("close", () => {
        this.closed = true;
        this.closedAt = Date.now();
        this.#wake();
        resolve();
      });
    });
    // A reset by the server is an expected outcome here; `closed` tells the test.
    socket.on("error", () => {});
    socket.on("data", (chunk: Uint8Array) => this.#onData(new Uint8Array(chunk)));
  }

  /**
   * Opens a TCP connection and completes the handshake.
   * @param options Port, source address, timeout.
   * @returns The peer, handshaken.
   */
  static async open(options: RawPeerOptions): Promise<RawPeer> {
    const socket = tcpConnect({
      host: "127.0.0.1",
      port: options.port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.setNoDelay(true);
    const peer = new RawPeer(socket, options);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    peer.connectedAt = Date.now();
    peer.write(peer.#handshake.start());
    await Promise.race([peer.#handshaken, peer.#failOnClose("handshake")]);
    return peer;
  }

  /**
   * Sends `connect` to `app` and waits for its `_result`.
   * @param app Application.
   * @returns Resolves once connected; rejects on `_error` or close.
   */
  async connect(app = "live"): Promise<void> {
    this.send(
      3,
      encodeCommand(
        connectCommand({
          app,
          tcUrl: `rtmp://127.0.0.1/${app}`,
          flashVer: "FMLE/3.0 (compatible; hostile)",
          type: "nonprivate",
        }, 1),
        { streamId: 0 },
      ),
    );
    const e = await this.waitFor(
      (e) => (e.kind === "result" || e.kind === "error") && e.transactionId === 1,
      "connect _result",
    );
    if (e.kind === "error") throw new Error(`connect refused: ${e.code}`);
  }

  /** Sends `createStream` and waits for the stream id. @returns The stream id. */
  async createStream(): Promise<number> {
    const tx = ++this.#tx;
    this.send(3, encodeCommand(createStreamCommand(tx), { streamId: 0 }));
    const e = await this.waitFor(
      (e) => (e.kind === "result" || e.kind === "error") && e.transactionId === tx,
      "createStream _result",
    );
    if (e.kind !== "result") throw new Error(`createStream refused: ${e.code}`);
    return Number(e.args[0]);
  }

  /**
   * Sends `publish` on a stream and waits for its first `onStatus` there.
   * @param streamId Message stream.
   * @param name Stream name (key).
   * @param then Chunked bytes sent in the same write, right behind the command (so the server
   * reads them while the publish is being decided).
   * @returns The status (`NetStream.Publish.Start` or an error).
   */
  async publish(
    streamId: number,
    name: string,
    then?: Uint8Array,
  ): Promise<PeerEvent & { kind: "status" }> {
    const from = this.events.length;
    const command = this.encoder.encode(8, encodeCommand(publishCommand(0, name), { streamId }));
    if (then === undefined) this.write(command);
    else {
      const both = new Uint8Array(command.length + then.length);
      both.set(command);
      both.set(then, command.length);
      this.write(both);
    }
    return await this.waitFor(
      (e) => e.kind === "status" && e.streamId === streamId,
      `publish status on stream ${streamId}`,
      from,
    ) as PeerEvent & { kind: "status" };
  }

  /**
   * Sends a command with a fresh transaction id (no answer awaited).
   * @param command Name, command object and arguments; the transaction id is replaced.
   * @returns The transaction id used.
   */
  call(command: Omit<Command, "transactionId">): number {
    const tx = ++this.#tx;
    this.send(3, encodeCommand({ ...command, transactionId: tx }, { streamId: 0 }));
    return tx;
  }

  /**
   * Encodes a message on a chunk stream and writes it.
   * @param csid Chunk stream id.
   * @param message The message.
   */
  send(csid: number, message: RtmpMessage): void {
    this.write(this.encoder.encode(csid, message));
  }

  /**
   * Writes raw bytes (already chunked). Resolves when the socket took them or closed.
   * @param bytes What to write.
   * @returns Whether the socket is still open.
   */
  write(bytes: Uint8Array): Promise<boolean> {
    if (this.closed || this.#socket.destroyed) return Promise.resolve(false);
    this.written += bytes.length;
    return new Promise((resolve) => this.#socket.write(bytes, (err) => resolve(!err)));
  }

  /** Resolves once the socket is closed. */
  get whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /**
   * Resolves with the first event from `from` on that matches; rejects at the deadline or when
   * the socket closes first.
   * @param match Predicate.
   * @param what For the error message.
   * @param from Index to search from.
   * @returns The event.
   */
  waitFor(match: (e: PeerEvent) => boolean, what: string, from = 0): Promise<PeerEvent> {
    return new Promise((resolve, reject) => {
      let i = from;
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not seen within ${this.#timeout} ms`));
      }, this.#timeout);
      const check = (): void => {
        for (; i < this.events.length; i++) {
          if (match(this.events[i])) {
            done();
            resolve(this.events[i]);
            return;
          }
        }
        if (this.closed) {
          done();
          reject(new Error(`${what}: connection closed first`));
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

  /** Closes the socket at once. */
  close(): void {
    this.#socket.destroy();
  }

  #failOnClose(what: string): Promise<never> {
    return this.#closedPromise.then(() => {
      throw new Error(`${what}: connection closed first`);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #onData(chunk: Uint8Array): void {
    let bytes: Uint8Array | null = chunk;
    if (!this.#handshakeDone) {
      const step = this.#handshake.push(chunk);
      if (step.send) this.write(step.send);
      if (!step.done) return;
      this.#handshakeDone = true;
      this.#resolveHandshake();
      bytes = step.remainder;
      if (!bytes) return;
    }
    this.#received += bytes.length;
    let messages: RtmpMessage[];
    try {
      messages = this.#decoder.push(bytes);
    } catch {
      this.#socket.destroy();
      return;
    }
    for (const m of messages) this.#onMessage(m);
    if (this.#ackWindow > 0 && this.#received - this.#lastAck >= this.#ackWindow) {
      this.#lastAck = this.#received;
      this.send(2, acknowledgementMessage(this.#received % 2 ** 32));
    }
    this.#wake();
  }

  #push(e: PeerEvent): void {
    this.counts[e.kind]++;
    this.events.push(e);
    if (this.events.length > this.#keep) this.events.splice(0, this.events.length - this.#keep);
  }

  #onMessage(m: RtmpMessage): void {
    if (m.type === MessageType.WindowAckSize) {
      const c = decodeControl(m);
      if (c.type === "WindowAckSize") this.#ackWindow = c.size;
      return;
    }
    if (m.type !== MessageType.CommandAmf0) return;
    const cmd = decodeCommand(m);
    const info = statusOf(cmd);
    if (cmd.name === "_result") {
      this.#push({ kind: "result", transactionId: cmd.transactionId, args: cmd.args });
    } else if (cmd.name === "_error") {
      this.#push({
        kind: "error",
        transactionId: cmd.transactionId,
        code: String(info?.code ?? ""),
        description: String(info?.description ?? ""),
      });
    } else if (cmd.name === "onStatus") {
      this.#push({
        kind: "status",
        streamId: m.streamId,
        code: String(info?.code ?? ""),
        level: String(info?.level ?? ""),
        description: String(info?.description ?? ""),
      });
    }
  }
}
