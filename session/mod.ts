/**
 * The sans-IO session layer: the server and client sides of one RTMP connection as state
 * machines. Feed them the bytes you read, act on the events they return, answer requests with
 * `accept(id)` / `reject(id, …)`, and write what `takeOutput()` returns. No sockets, timers,
 * clocks or promises: bring your own IO (the drivers in this package are one way to do it).
 *
 * @example Answer a connect, then a publish
 * ```ts
 * import { ServerSession } from "./mod.ts";
 * const session = new ServerSession();
 * function onBytes(bytes: Uint8Array): Uint8Array[] {
 *   for (const e of session.receive(bytes)) {
 *     if (e.type === "connect-request") session.accept(e.id);
 *     if (e.type === "publish-request") session.accept(e.id);
 *   }
 *   return session.takeOutput();
 * }
 * console.log(onBytes(new Uint8Array([3])).length); // 0
 * ```
 *
 * @module
 */

export type * from "../protocol/vocabulary.ts";
export * from "./server_session.ts";
export * from "./client_session.ts";
export * from "./message_channel.ts";
