// A real TLS terminator in front of an RTMP server: nginx with Debian's stream module
// (libnginx-mod-stream), `stream { server { listen P ssl; proxy_pass 127.0.0.1:BACKEND; } }`,
// the way RTMPS is commonly offered in front of nginx-rtmp. Its access log records the SNI name
// each client sent ($ssl_server_name), so a test can check the client sent one.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { freePort, isPortListening, removeTempDir, tempDir, waitFor } from "./peers.ts";

const MODULES = [
  "/usr/lib/nginx/modules/ngx_stream_module.so",
  "/usr/lib64/nginx/modules/ngx_stream_module.so",
];

/** A running TLS terminator. */
export interface TlsProxy {
  /** Port of the TLS listener on 127.0.0.1. */
  port: number;
  /** SNI names of the connections that ended so far ("-" when a client sent none). */
  serverNames(): Promise<string[]>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let hooked = false;

export async function startTlsProxy(
  options: { backendPort: number; cert: string; key: string },
): Promise<TlsProxy> {
  const module = MODULES.find((p) => existsSync(p));
  if (!module) throw new Error("startTlsProxy: ngx_stream_module.so not found");
  if (!hooked) {
    hooked = true;
    process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));
  }
  const dir = await tempDir("rtmp-tls-proxy-");
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  await writeFile(certFile, options.cert);
  await writeFile(keyFile, options.key);
  const errorLog = join(dir, "error.log");
  const accessLog = join(dir, "access.log");
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const conf = join(dir, "nginx.conf");
    await writeFile(
      conf,
      [
        `load_module ${module};`,
        "daemon off;",
        "master_process off;",
        `pid ${join(dir, "nginx.pid")};`,
        `error_log ${errorLog} info;`,
        "events { worker_connections 64; }",
        "stream {",
        "  log_format sni '$ssl_server_name';",
        "  server {",
        `    listen 127.0.0.1:${port} ssl;`,
        `    ssl_certificate ${certFile};`,
        `    ssl_certificate_key ${keyFile};`,
        `    proxy_pass 127.0.0.1:${options.backendPort};`,
        `    access_log ${accessLog} sni;`,
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    const child = spawn("nginx", ["-p", dir + "/", "-c", conf, "-e", errorLog], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.add(child);
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => stderr += d);
    const exited = new Promise<void>((resolve) =>
      child.once("close", () => {
        children.delete(child);
        resolve();
      })
    );
    let gone = false;
    exited.then(() => gone = true);
    try {
      await waitFor(async () => {
        if (gone) throw new Error(`nginx (stream) exited: ${stderr}`);
        return await isPortListening(port);
      }, { what: "the TLS terminator to listen" });
    } catch (e) {
      child.kill("SIGKILL");
      await exited;
      if (attempt === 3) throw e;
      continue;
    }
    return {
      port,
      serverNames: async () =>
        (await readFile(accessLog, "utf8").catch(() => "")).split("\n").filter((l) => l !== ""),
      stop: async () => {
        child.kill("SIGTERM");
        await exited;
        await removeTempDir(dir);
      },
    };
  }
  throw new Error("startTlsProxy: unreachable");
}
