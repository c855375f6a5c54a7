/**
 * Loopback throughput of each socket adapter usable on the current runtime, next to a raw loop
 * on the same runtime API, so the adapter's overhead shows as a ratio.
 *
 * ```sh
 * deno run -A bench/socket_bench.ts [MiB] [write KiB]
 * bun bench/socket_bench.ts [MiB] [write KiB]
 * node bench/socket_bench.ts [MiB] [write KiB]
 * ```
 *
 * Defaults: 512 MiB in 64 KiB writes, best of 3 runs (`RTMP_BENCH_MIB`, `RTMP_BENCH_WRITE_KIB`,
 * `RTMP_BENCH_RUNS` override). Every run moves the bytes client → server over 127.0.0.1; the
 * clock stops when the server has read them all.
 *
 * @module
 */

import * as net from "node:net";
import process from "node:process";
import { nodeAdapter } from "../socket/node.ts";
import type { SocketAdapter } from "../socket/types.ts";

const runtime: "deno" | "bun" | "node" = "Deno" in globalThis
  ? "deno"
  : "Bun" in globalThis
  ? "bun"
  : "node";

function numberSetting(arg: string | undefined, env: string, fallback: number): number {
  const text = arg ?? process.env[env];
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`expected a positive number for ${env}, got ${text}`);
  }
  return value;
}

// process.argv is [runtime, script, ...args] on all three runtimes.
const args = process.argv.slice(2);
const TOTAL = Math.floor(numberSetting(args[0], "RTMP_BENCH_MIB", 512) * 1024 * 1024);
const WRITE = Math.floor(numberSetting(args[1], "RTMP_BENCH_WRITE_KIB", 64) * 1024);
const RUNS = Math.floor(numberSetting(undefined, "RTMP_BENCH_RUNS", 3));

const payload = new Uint8Array(WRITE);
for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;

/** One measured transfer: resolves to seconds from the first write to the last byte read. */
type Transfer = () => Promise<number>;

function adapterTransfer(adapter: SocketAdapter): Transfer {
  return async () => {
    const listener = await adapter.listen({ hostname: "127.0.0.1", port: 0 });
    const received = (async () => {
      const conn = await listener.accept();
      if (conn === null) throw new Error("listener closed before accepting");
      let n = 0;
      for (let chunk = await conn.read(); chunk !== null; chunk = await conn.read()) {
        n += chunk.byteLength;
      }
      conn.close();
      return n;
    })();
    const client = await adapter.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const start = performance.now();
    for (let sent = 0; sent < TOTAL; sent += WRITE) await client.write(payload);
    await client.closeWrite();
    const n = await received;
    const seconds = (performance.now() - start) / 1000;
    client.close();
    listener.close();
    if (n !== Math.ceil(TOTAL / WRITE) * WRITE) throw new Error(`received ${n} bytes`);
    return seconds;
  };
}

const rawNodeNet: Transfer = async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const received = new Promise<number>((resolve) => {
    server.once("connection", (socket) => {
      let n = 0;
      socket.on("data", (chunk: Uint8Array) => n += chunk.byteLength);
      socket.on("end", () => {
        socket.end();
        resolve(n);
      });
    });
  });
  const client = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve) => client.once("connect", resolve));
  const start = performance.now();
  for (let sent = 0; sent < TOTAL; sent += WRITE) {
    if (!client.write(payload)) await new Promise((resolve) => client.once("drain", resolve));
  }
  client.end();
  await received;
  const seconds = (performance.now() - start) / 1000;
  client.destroy();
  server.close();
  return seconds;
};

interface DenoRaw {
  listen(options: { hostname: string; port: number }): {
    addr: { port: number };
    accept(): Promise<DenoRawConn>;
    close(): void;
  };
  connect(options: { hostname: string; port: number }): Promise<DenoRawConn>;
}

interface DenoRawConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

const rawDeno: Transfer = async () => {
  const deno = (globalThis as unknown as { Deno: DenoRaw }).Deno;
  const listener = deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(64 * 1024);
    let n = 0;
    for (let r = await conn.read(buffer); r !== null; r = await conn.read(buffer)) n += r;
    conn.close();
    return n;
  })();
  const client = await deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const start = performance.now();
  for (let sent = 0; sent < TOTAL; sent += WRITE) {
    let off = await client.write(payload);
    while (off < payload.length) off += await client.write(payload.subarray(off));
  }
  await client.closeWrite();
  await received;
  const seconds = (performance.now() - start) / 1000;
  client.close();
  listener.close();
  return seconds;
};

interface BunRawSocket {
  write(bytes: Uint8Array, offset?: number, length?: number): number;
  end(): void;
  shutdown(): void;
}

interface BunRaw {
  listen(options: unknown): { port: number; stop(force?: boolean): void };
  connect(options: unknown): Promise<BunRawSocket>;
}

const rawBun: Transfer = async () => {
  const bun = (globalThis as unknown as { Bun: BunRaw }).Bun;
  const received = Promise.withResolvers<number>();
  let n = 0;
  const server = bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      data(_s: BunRawSocket, chunk: Uint8Array) {
        n += chunk.byteLength;
      },
      end(s: BunRawSocket) {
        s.end();
        received.resolve(n);
      },
    },
  });
  let drained: (() => void) | null = null;
  const client = await bun.connect({
    hostname: "127.0.0.1",
    port: server.port,
    allowHalfOpen: true,
    socket: {
      data() {},
      drain() {
        const d = drained;
        drained = null;
        d?.();
      },
    },
  });
  const start = performance.now();
  for (let sent = 0; sent < TOTAL; sent += WRITE) {
    let off = 0;
    while (off < payload.length) {
      const w = client.write(payload, off, payload.length - off);
      if (w > 0) off += w;
      if (off < payload.length) await new Promise<void>((resolve) => drained = resolve);
    }
  }
  client.shutdown();
  await received.promise;
  const seconds = (performance.now() - start) / 1000;
  client.end();
  server.stop(true);
  return seconds;
};

interface Row {
  adapter: string;
  transfer: Transfer;
  /** Label of the raw row this one is compared with. */
  baseline: string;
}

const rows: Row[] = [{ adapter: "raw node:net", transfer: rawNodeNet, baseline: "raw node:net" }];
if (runtime === "deno") {
  rows.push({ adapter: "raw Deno.connect", transfer: rawDeno, baseline: "raw Deno.connect" });
  const { denoAdapter } = await import("../socket/deno.ts");
  rows.push({
    adapter: "denoAdapter",
    transfer: adapterTransfer(denoAdapter),
    baseline: "raw Deno.connect",
  });
}
if (runtime === "bun") {
  rows.push({ adapter: "raw Bun.connect", transfer: rawBun, baseline: "raw Bun.connect" });
  const { bunAdapter } = await import("../socket/bun.ts");
  rows.push({
    adapter: "bunAdapter",
    transfer: adapterTransfer(bunAdapter),
    baseline: "raw Bun.connect",
  });
}
rows.push({
  adapter: "nodeAdapter",
  transfer: adapterTransfer(nodeAdapter),
  baseline: "raw node:net",
});

const mbps = new Map<string, number>();
console.log(
  `${runtime}: ${TOTAL / 1048576} MiB over 127.0.0.1 in ${WRITE / 1024} KiB writes, ` +
    `best of ${RUNS}`,
);
console.log("runtime | adapter          |     MB/s | ratio to raw");
console.log("--------|------------------|----------|-------------");
for (const row of rows) {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) best = Math.min(best, await row.transfer());
  const rate = TOTAL / best / 1e6;
  mbps.set(row.adapter, rate);
  const base = mbps.get(row.baseline) ?? rate;
  console.log(
    `${runtime.padEnd(7)} | ${row.adapter.padEnd(16)} | ${rate.toFixed(0).padStart(8)} | ${
      (rate / base).toFixed(2)
    }`,
  );
}
