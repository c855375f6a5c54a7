// A scriptable RTMP server for client tests, made of the library's own sans-IO ServerSession
// over a real loopback socket: the test decides every answer (accept, refuse, authmod
// challenges, media, ReconnectRequest, dropping the connection) and sees every event the
// client caused. Used where a real server cannot be told to do what the test needs.
import { listen } from "../../socket/mod.ts";
import type { Conn, Listener } from "../../socket/types.ts";
import {
  playChunkStream,
  ServerSession,
  type ServerSessionEvent,
  type ServerSessionOptions,
} from "../../session/server_session.ts";
import type { StatusInfo } from "../../protocol/status.ts";
import { ChunkDecoder } from "../../protocol/chunk_decoder.ts";
import { type ControlMessage, decodeControl } from "../../protocol/control.ts";
import type { RtmpMessage } from "../../protocol/message.ts";

/** C0 + C1 + C2: what a client sends before its first chunk. */
const CLIENT_HANDSHAKE_BYTES = 1 + 1536 + 1536;

/** One client connection to a {@linkcode SessionServer}. */
export class SessionPeer {
  readonly session: ServerSession;
  readonly conn: Conn;
  /** Every event so far, in order. */
  readonly events: ServerSessionEvent[] = [];
  /**
   * Every message the client sent, decoded a second time from the raw bytes, so tests see what
   * the session answers silently (Acknowledgements, ping responses, Set Buffer Length).
   */
  readonly raw: RtmpMessage[] = [];
  /** The protocol control and user control messages among {@linkcode raw}. */
  readonly controls: ControlMessage[] = [];
  readonly #tap = new ChunkDecoder();
  #skip = CLIENT_HANDSHAKE_BYTES;
  #cursor = 0;
  #waiter: (() => void) | null = null;
  #ended = false;
  #error: unknown = null;
  /** Resolves when the client closed (FIN or reset) or the test closed the socket. */
  readonly done: Promise<void>;

  constructor(conn: Conn, options: ServerSessionOptions) {
    this.conn = conn;
    this.session = new ServerSession(options);
    this.done = this.#read();
  }

  get ended(): boolean {
    return this.#ended;
  }

  async #read(): Promise<void> {
    try {
      for (let chunk = await this.conn.read(); chunk !== null; chunk = await this.conn.read()) {
        this.#tapBytes(chunk);
        this.events.push(...this.session.receive(chunk));
        await this.flush();
        this.#wake();
      }
    } catch (e) {
      this.#error = e;
    } finally {
      // The client left: answer its FIN like a server does, so it need not linger.
      this.conn.close();
      this.#ended = true;
      this.#wake();
    }
  }

  #tapBytes(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, bytes.length);
      this.#skip -= n;
      bytes = bytes.subarray(n);
    }
    if (bytes.length === 0) return;
    for (const m of this.#tap.push(bytes)) {
      this.raw.push(m);
      if (m.type >= 1 && m.type <= 6) this.controls.push(decodeControl(m));
    }
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  /** Writes what the session queued. */
  async flush(): Promise<void> {
    for (const chunk of this.session.takeOutput()) await this.conn.write(chunk);
  }

  /**
   * The next event (after the ones already taken) of this type; earlier events of other types
   * are skipped. Rejects when the connection ends first or after `ms`.
   */
  async next<T extends ServerSessionEvent["type"]>(
    type: T | T[],
    ms = 10_000,
  ): Promise<Extract<ServerSessionEvent, { type: T }>> {
    const deadline = performance.now() + ms;
    const types: string[] = Array.isArray(type) ? type : [type];
    while (true) {
      while (this.#cursor < this.events.length) {
        const ev = this.events[this.#cursor++];
        if (types.includes(ev.type)) return ev as Extract<ServerSessionEvent, { type: T }>;
      }
      if (this.#ended) {
        throw new Error(`connection ended before a "${type}" event (${String(this.#error ?? "")})`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no "${type}" event within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for `connect` and accepts it; returns the request. */
  async acceptConnect(): Promise<Extract<ServerSessionEvent, { type: "connect-request" }>> {
    const ev = await this.next("connect-request");
    this.events.push(...this.session.accept(ev.id));
    await this.flush();
    return ev;
  }

  /** Waits for `play`, accepts it and returns its stream id and request. */
  async acceptPlay(): Promise<Extract<ServerSessionEvent, { type: "play-request" }>> {
    const ev = await this.next("play-request");
    this.events.push(...this.session.accept(ev.id));
    await this.flush();
    return ev;
  }

  /** Waits for `publish`, accepts it and returns the request. */
  async acceptPublish(): Promise<Extract<ServerSessionEvent, { type: "publish-request" }>> {
    const ev = await this.next("publish-request");
    this.events.push(...this.session.accept(ev.id));
    await this.flush();
    return ev;
  }

  /** Queues one media message to a playing stream (call flush() after a batch). */
  queueMedia(streamId: number, type: number, timestamp: number, payload: Uint8Array): void {
    this.session.channel.send(playChunkStream(type), { type, streamId, timestamp, payload });
  }

  /** Sends an onStatus now. */
  async status(streamId: number, info: StatusInfo): Promise<void> {
    this.session.sendStatus(streamId, info);
    await this.flush();
  }

  /** Gracefully ends our side (FIN after what is queued). */
  async closeWrite(): Promise<void> {
    await this.flush();
    await this.conn.closeWrite();
  }

  /** Drops the connection at once. */
  kill(): void {
    this.conn.close();
  }
}

/** A listening test server; `onPeer` scripts each connection. */
export interface SessionServer {
  port: number;
  /** `rtmp://127.0.0.1:PORT/APP/NAME`. */
  url(app: string, name: string): string;
  /** Every connection accepted so far. */
  peers: SessionPeer[];
  /** Errors thrown by the per-connection scripts (each also dropped its connection). */
  errors: unknown[];
  close(): Promise<void>;
}

export async function startSessionServer(
  onPeer: (peer: SessionPeer, index: number) => Promise<void>,
  options: ServerSessionOptions = {},
): Promise<SessionServer> {
  const listener: Listener = await listen({ hostname: "127.0.0.1", port: 0 });
  const peers: SessionPeer[] = [];
  const scripts: Promise<void>[] = [];
  const errors: unknown[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      const peer = new SessionPeer(conn, options);
      const index = peers.length;
      peers.push(peer);
      scripts.push(
        onPeer(peer, index).catch((e) => {
          errors.push(e);
          peer.kill();
        }),
      );
    }
  })();
  const port = listener.addr.port;
  return {
    port,
    url: (app, name) => `rtmp://127.0.0.1:${port}/${app}/${name}`,
    peers,
    errors,
    close: async () => {
      listener.close();
      await loop;
      for (const p of peers) p.kill();
      await Promise.all(scripts);
    },
  };
}
