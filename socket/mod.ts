/**
 * The socket layer: one small byte-stream interface ({@linkcode Conn}, {@linkcode Listener},
 * {@linkcode SocketAdapter}) and run-time selection of the adapter for the current runtime.
 *
 * JSR forbids conditional exports, so the adapter is chosen when first needed: the runtime is
 * detected and its adapter module loaded with `await import()`, so no runtime ever loads another
 * runtime's code (design §2). Each adapter is also importable on its own subpath
 * (`@x/rtmp/socket/deno`, `…/bun`, `…/node`) and can be passed explicitly.
 *
 * Default per runtime, chosen by measurement (`bench/socket_bench.ts`, 127.0.0.1, best of 3,
 * MB/s, range over repeated runs; Deno 2.9.6, Bun 1.4.5, Node 24.21 on the 2-core development
 * machine):
 *
 * | runtime | writes | native adapter             | nodeAdapter |
 * |---------|--------|----------------------------|-------------|
 * | Deno    | 4 KiB  | 1760 (denoAdapter)         | 1216        |
 * | Deno    | 64 KiB | 2704–2792 (denoAdapter)    | 1935–2801   |
 * | Deno    | 1 MiB  | 2895 (denoAdapter)         | 1811        |
 * | Bun     | 4 KiB  | 1522–1734 (bunAdapter)     | 1145–1320   |
 * | Bun     | 64 KiB | 1889–2056 (bunAdapter)     | 1626–1944   |
 * | Bun     | 1 MiB  | 2581–3114 (bunAdapter)     | 1998–2714   |
 * | Node    | 64 KiB | —                          | 1753–1976   |
 *
 * Design §2 expected `node:net` to win on Bun (≈ 2.6 vs 1.5–2 GB/s on an earlier Bun); on Bun
 * 1.4.5 `Bun.connect` came out ahead in most runs at every write size, most clearly at the small
 * writes RTMP makes,
 * so Bun defaults to `bunAdapter`. On Deno, `denoAdapter` is also the only one whose TLS reads
 * keep backpressure (see `node.ts`).
 *
 * @example Echo server and client on whatever runtime runs this
 * ```ts
 * import { connect, listen } from "./mod.ts";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const conn of listener) {
 *     for (let c = await conn.read(); c !== null; c = await conn.read()) await conn.write(c);
 *     await conn.closeWrite();
 *   }
 * })();
 * const conn = await connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("hello"));
 * console.log(await conn.read());
 * conn.close();
 * listener.close();
 * ```
 *
 * @module
 */

import type { Conn, ConnectOptions, Listener, ListenOptions, SocketAdapter } from "./types.ts";

export { isRtmpError, RtmpError } from "../errors.ts";
export type { RtmpErrorCode, RtmpErrorOptions } from "../errors.ts";
export type {
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddress,
  ProxyProtocolOptions,
  SocketAdapter,
  TlsConnectOptions,
  TlsListenOptions,
} from "./types.ts";

/**
 * Which JavaScript runtime is running this code.
 *
 * Deno and Bun are recognised by their globals; anything else is treated as Node (or a
 * Node-compatible runtime), whose `node:net` adapter is the portable choice.
 *
 * @example
 * ```ts
 * import { detectRuntime } from "./mod.ts";
 * console.log(detectRuntime()); // "deno", "bun" or "node"
 * ```
 *
 * @returns The runtime's name.
 */
export function detectRuntime(): "deno" | "bun" | "node" {
  const global = globalThis as { Deno?: { version?: unknown }; Bun?: { version?: unknown } };
  if (typeof global.Deno?.version === "object") return "deno";
  if (typeof global.Bun?.version === "string") return "bun";
  return "node";
}

let cached: Promise<SocketAdapter> | null = null;

async function load(): Promise<SocketAdapter> {
  switch (detectRuntime()) {
    case "deno":
      return (await import("./deno.ts")).denoAdapter;
    case "bun":
      return (await import("./bun.ts")).bunAdapter;
    default:
      return (await import("./node.ts")).nodeAdapter;
  }
}

/**
 * The fastest adapter for the current runtime (see the module documentation for the
 * measurements): `denoAdapter` on Deno, `bunAdapter` on Bun, `nodeAdapter` elsewhere. Loaded on
 * first call and cached.
 *
 * @example
 * ```ts
 * import { defaultAdapter } from "./mod.ts";
 * const adapter = await defaultAdapter();
 * console.log(adapter.name);
 * ```
 *
 * @returns The adapter.
 */
export function defaultAdapter(): Promise<SocketAdapter> {
  if (cached === null) {
    cached = load();
    // A failed import (e.g. a broken install) should be retried on the next call.
    cached.catch(() => {
      cached = null;
    });
  }
  return cached;
}

/**
 * Opens a TCP or TLS connection with `options.adapter`, or the {@linkcode defaultAdapter}.
 *
 * @example
 * ```ts
 * import { connect } from "./mod.ts";
 * import { nodeAdapter } from "./node.ts";
 * try {
 *   const conn = await connect({ hostname: "127.0.0.1", port: 1935, adapter: nodeAdapter });
 *   conn.close();
 * } catch (e) {
 *   console.log(e); // RtmpError CONNECTION_REFUSED when nothing listens
 * }
 * ```
 *
 * @param options Where to connect, TLS settings, timeout, signal; optionally the adapter.
 * @returns The open connection.
 */
export async function connect(
  options: ConnectOptions & { adapter?: SocketAdapter },
): Promise<Conn> {
  const { adapter, ...rest } = options;
  return await (adapter ?? await defaultAdapter()).connect(rest);
}

/**
 * Binds a TCP or TLS listener with `options.adapter`, or the {@linkcode defaultAdapter}.
 *
 * @example
 * ```ts
 * import { listen } from "./mod.ts";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 *
 * @param options Address, TLS certificate, signal; optionally the adapter.
 * @returns The listener.
 */
export async function listen(
  options: ListenOptions & { adapter?: SocketAdapter },
): Promise<Listener> {
  const { adapter, ...rest } = options;
  return await (adapter ?? await defaultAdapter()).listen(rest);
}
