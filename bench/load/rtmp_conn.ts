/**
 * The load generator's raw RTMP connections, built from the library's sans-IO pieces on
 * `node:net` so one process (Node 24) can drive thousands of them against any server:
 *
 * - {@linkcode BenchClient}: handshake (`protocol/handshake.ts`, FP9 digest like FFmpeg), then
 *   `connect` / `createStream` / `play` over a `MessageChannel` (chunk codec, acknowledgements,
 *   ping answers); media messages go to a callback.
 * - {@linkcode BenchPublisher}: a `ClientSession` publishing tags the caller gives it, with
 *   socket backpressure.
 *
 * Sockets set `TCP_NODELAY` so that any Nagle delay measured is the server's.
 *
 * @module
 */

import * as net from "node:net";
import type { AmfValue } from "../../protocol/amf.ts";
import {
  type Command,
  connectCommand,
  createStreamCommand,
  decodeCommand,
  encodeCommand,
  playCommand,
} from "../../protocol/command.ts";
import { ClientHandshake } from "../../protocol/handshake.ts";
import { ChunkStreamId, type RtmpMessage } from "../../protocol/message.ts";
import { ClientSession } from "../../session/client_session.ts";
import { MessageChannel } from "../../session/message_channel.ts";

/** Where to connect. */
export interface Endpoint {
  port: number;
  /** Source address (spreading connections over 127.0.0.x keeps ephemeral ports apart). */
  localAddress?: string;
}

function openSocket(ep: Endpoint): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: "127.0.0.1",
      port: ep.port,
      localAddress: ep.localAddress,
      noDelay: true,
    });
    const fail = (e: Error): void => reject(e);
    socket.once("error", fail);
    socket.once("connect", () => {
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

function writeAll(socket: net.Socket, chunks: Uint8Array[]): boolean {
  if (chunks.length === 0 || socket.destroyed) return true;
  if (chunks.length === 1) return socket.write(chunks[0]);
  socket.cork();
  let ok = true;
  for (const c of chunks) ok = socket.write(c);
  socket.uncork();
  return ok;
}

function statusCode(cmd: Command): string {
  for (const v of [cmd.args[0], cmd.commandObject]) {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      const code = (v as Record<string, AmfValue>).code;
      if (typeof code === "string") return code;
    }
  }
  return "";
}

/**
 * Milliseconds on a clock shared by the load generator's threads (a worker's `performance.now()`
 * has its own origin, so the origin is added).
 */
export const now = (): number => performance.timeOrigin + performance.now();

/** A player / idle client connection. */
export class BenchClient {
  readonly socket: net.Socket;
  readonly #port: number;
  #handshake: ClientHandshake | null = new ClientHandshake({ digest: true });
  #handshaken!: () => void;
  readonly #channel = new MessageChannel({ decoder: { maxChunkStreams: 256 } });
  #nextTx = 1;
  readonly #calls = new Map<number, (cmd: Command) => void>();
  readonly #statusWaiters: Array<{ code: string; resolve: () => void }> = [];
  /** Message stream id from `createStream`. */
  streamId = 0;
  /** Media payload bytes received (audio, video, data). */
  mediaBytes = 0;
  /** Media messages received. */
  mediaMessages = 0;
  /** Called for every audio/video/data message, with the arrival time. */
  onMedia: ((message: RtmpMessage, at: number) => void) | null = null;
  /** Why the connection ended, once it has. */
  closedWith: string | null = null;
  /** Resolves once the socket closed. */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket, port: number) {
    this.socket = socket;
    this.#port = port;
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.closedWith ??= "closed by server";
        for (const [, r] of this.#calls) {
          r({ name: "_closed", transactionId: 0, commandObject: null, args: [] });
        }
        this.#calls.clear();
        resolve();
      });
    });
    socket.on("error", (e) => this.closedWith ??= e.message);
    socket.on("data", (bytes: Uint8Array) => this.#onData(bytes));
  }

  /**
   * TCP connect and RTMP handshake.
   *
   * @param ep Server port and source address.
   * @returns The client, handshake done.
   */
  static async open(ep: Endpoint): Promise<BenchClient> {
    const socket = await openSocket(ep);
    const client = new BenchClient(socket, ep.port);
    const done = new Promise<void>((resolve, reject) => {
      client.#handshaken = resolve;
      client.closed.then(() => reject(new Error(`handshake: ${client.closedWith}`)));
    });
    socket.write(client.#handshake!.start());
    await done;
    return client;
  }

  #onData(bytes: Uint8Array): void {
    try {
      if (this.#handshake) {
        const step = this.#handshake.push(bytes);
        if (step.send) this.socket.write(step.send);
        if (!step.done) return;
        this.#handshake = null;
        this.#channel.setOutgoingChunkSize(4096);
        this.#handshaken();
        if (!step.remainder) return;
        bytes = step.remainder;
      }
      const at = now();
      for (const ev of this.#channel.receive(bytes)) {
        if (ev.kind !== "message") continue;
        const m = ev.message;
        if (m.type === 8 || m.type === 9 || m.type === 18) {
          this.mediaBytes += m.payload.length;
          this.mediaMessages++;
          this.onMedia?.(m, at);
        } else if (m.type === 20) {
          this.#onCommand(decodeCommand(m));
        }
      }
      const out = this.#channel.takeOutput();
      if (out.length > 0) writeAll(this.socket, out);
    } catch (e) {
      this.closedWith = `load generator: ${(e as Error).message}`;
      this.socket.destroy();
    }
  }

  #onCommand(cmd: Command): void {
    if (cmd.name === "_result" || cmd.name === "_error") {
      const r = this.#calls.get(cmd.transactionId);
      if (r) {
        this.#calls.delete(cmd.transactionId);
        r(cmd);
      }
      return;
    }
    if (cmd.name === "onStatus") {
      const code = statusCode(cmd);
      for (let i = 0; i < this.#statusWaiters.length; i++) {
        if (this.#statusWaiters[i].code === code) {
          this.#statusWaiters.splice(i, 1)[0].resolve();
          i--;
        }
      }
    }
  }

  #send(cmd: Command, streamId: number): void {
    this.#channel.send(
      streamId === 0 ? ChunkStreamId.Command : 8,
      encodeCommand(cmd, { streamId }),
    );
    writeAll(this.socket, this.#channel.takeOutput());
  }

  #call(cmd: Command): Promise<Command> {
    return new Promise((resolve) => {
      this.#calls.set(cmd.transactionId, resolve);
      this.#send(cmd, 0);
    });
  }

  /**
   * `connect` then `createStream`; throws when either is refused.
   *
   * @param app Application name.
   */
  async connectAndCreate(app: string): Promise<void> {
    const tcUrl = `rtmp://127.0.0.1:${this.#port}/${app}`;
    const answer = await this.#call(
      connectCommand({
        app,
        tcUrl,
        flashVer: "LNX 9,0,124,2",
        fpad: false,
        capabilities: 15,
        audioCodecs: 4071,
        videoCodecs: 252,
        videoFunction: 1,
      }, this.#nextTx++),
    );
    if (answer.name !== "_result") throw new Error(`connect: ${answer.name} ${statusCode(answer)}`);
    const created = await this.#call(createStreamCommand(this.#nextTx++));
    const id = created.args[0];
    if (created.name !== "_result" || typeof id !== "number") {
      throw new Error(`createStream: ${created.name}`);
    }
    this.streamId = id;
  }

  /**
   * Resolves when an `onStatus` with this code arrives (or the connection closes: rejects).
   *
   * @param code Status code.
   * @returns When it came.
   */
  waitStatus(code: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#statusWaiters.push({ code, resolve: () => resolve(now()) });
      this.closed.then(() => reject(new Error(`waiting for ${code}: ${this.closedWith}`)));
    });
  }

  /**
   * Sends `play` (live only, `start = -1`, as ffplay does for live URLs).
   *
   * @param name Stream name.
   * @returns When it was sent.
   */
  play(name: string): number {
    // Buffer length first, as real players do (user control SetBufferLength, 1 s).
    this.#channel.sendUserControl({
      type: "SetBufferLength",
      streamId: this.streamId,
      bufferLength: 1000,
    });
    const t = now();
    this.#send(playCommand(0, name, { start: -1 }), this.streamId);
    return t;
  }

  /** Stops reading the socket (a stalled viewer). */
  stall(): void {
    this.socket.pause();
  }

  /** Closes with a reset (no TIME_WAIT left behind). */
  destroy(): void {
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }
}

/** A publishing connection. */
export class BenchPublisher {
  readonly socket: net.Socket;
  readonly #session: ClientSession;
  #drained: (() => void) | null = null;
  /** Bytes handed to the socket. */
  bytesOut = 0;
  /** Resolves once the socket closed. */
  readonly closed: Promise<void>;
  closedWith: string | null = null;

  private constructor(socket: net.Socket, session: ClientSession) {
    this.socket = socket;
    this.#session = session;
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.closedWith ??= "closed by server";
        this.#drained?.();
        resolve();
      })
    );
    socket.on("error", (e) => this.closedWith ??= e.message);
    socket.on("drain", () => {
      const d = this.#drained;
      this.#drained = null;
      d?.();
    });
  }

  /**
   * Connects and publishes `app/name`; resolves once `NetStream.Publish.Start` arrived.
   *
   * @param ep Server port.
   * @param app Application.
   * @param name Stream name.
   * @param chunkSize Outgoing chunk size: 4096 as OBS, 128 as FFmpeg (which never changes it).
   * @returns The publisher.
   */
  static async open(
    ep: Endpoint,
    app: string,
    name: string,
    chunkSize = 4096,
  ): Promise<BenchPublisher> {
    const socket = await openSocket(ep);
    const session = new ClientSession({
      connect: {
        app,
        tcUrl: `rtmp://127.0.0.1:${ep.port}/${app}`,
        type: "nonprivate",
        flashVer: "FMLE/3.0 (compatible; FMSc/1.0)",
      },
      streamName: name,
      chunkSize,
    });
    const pub = new BenchPublisher(socket, session);
    const ready = new Promise<void>((resolve, reject) => {
      socket.on("data", (bytes: Uint8Array) => {
        try {
          for (const ev of session.receive(bytes)) {
            if (ev.type === "publishing") resolve();
            if (ev.type === "rejected") reject(new Error(`publish refused: ${ev.status.code}`));
          }
          pub.#write();
        } catch (e) {
          reject(e);
          socket.destroy();
        }
      });
      pub.closed.then(() => reject(new Error(`publish: ${pub.closedWith}`)));
    });
    pub.#write();
    await ready;
    return pub;
  }

  #write(): boolean {
    const out = this.#session.takeOutput();
    for (const c of out) this.bytesOut += c.length;
    return writeAll(this.socket, out);
  }

  /**
   * Queues one tag and writes it.
   *
   * @param type 8, 9 or 18.
   * @param timestamp Milliseconds.
   * @param payload Tag body.
   * @returns `false` when the socket buffer is full (await {@linkcode BenchPublisher.drain}).
   */
  send(type: number, timestamp: number, payload: Uint8Array): boolean {
    this.#session.sendMedia(type, timestamp, payload);
    return this.#write();
  }

  /** Queues one tag without writing yet (call {@linkcode BenchPublisher.flush}). */
  queue(type: number, timestamp: number, payload: Uint8Array): void {
    this.#session.sendMedia(type, timestamp, payload);
  }

  /** Bytes queued and not yet written. */
  get pending(): number {
    return this.#session.pendingOutput;
  }

  /** Writes what is queued. @returns `false` when the socket buffer is full. */
  flush(): boolean {
    return this.#write();
  }

  /** Resolves once the socket's buffer drained (or it closed). */
  drain(): Promise<void> {
    if (this.socket.destroyed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained = resolve);
  }

  /**
   * Unpublishes, sends FIN and waits until the server closed too: by then it has read every
   * byte we sent.
   */
  async finish(): Promise<void> {
    if (!this.socket.destroyed) {
      this.#session.unpublish();
      this.#write();
      this.socket.end();
    }
    await this.closed;
  }

  /** Closes with a reset. */
  destroy(): void {
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }
}

/** A player that sent `play`. */
export interface OpenedPlayer {
  client: BenchClient;
  /** When the TCP connect started. */
  tcp: number;
  /** When `play` was sent. */
  playSent: number;
  /** Resolves with the arrival time of `NetStream.Play.Start`. */
  started: Promise<number>;
}

/**
 * Opens a player: TCP connect, handshake, `connect`, `createStream`, `play`.
 *
 * @param ep Server port and source address.
 * @param app Application.
 * @param name Stream name.
 * @returns The player, `play` sent.
 */
export async function openPlayer(ep: Endpoint, app: string, name: string): Promise<OpenedPlayer> {
  const tcp = now();
  const client = await BenchClient.open(ep);
  await client.connectAndCreate(app);
  const started = client.waitStatus("NetStream.Play.Start");
  started.catch(() => {});
  const playSent = client.play(name);
  return { client, tcp, playSent, started };
}
