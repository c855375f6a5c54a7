/**
 * The layering of design §2, checked on the import graph: protocol/ imports only itself and
 * errors.ts; the sans-IO session layer only protocol/ and errors.ts, with no timer, socket or
 * clock; no module imports from a layer above its own.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { repoPath } from "./support/runtime.ts";

const ROOT = repoPath(".");
const SKIP = new Set(["node_modules", "tests", "bench", "examples", ".git", ".ci", "docs"]);

/** Rank of each top-level folder (or top-level file): a module may import only ranks ≤ its own. */
const RANK: Record<string, number> = {
  "errors.ts": 0,
  protocol: 1,
  session: 2,
  socket: 2,
  util: 3,
  flv: 3,
  auth: 3,
  ops: 3,
  hub: 4,
  server: 5,
  client: 5,
  http: 5,
  // Restream destinations drive RtmpClient (client.ts): the public API's rank.
  relay: 6,
  cli: 7,
  "cli.ts": 7,
};
const TOP_FILE_RANK = 6; // mod.ts, server.ts, client.ts, cli.ts

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

function layerOf(path: string): { name: string; rank: number } {
  const rel = relative(ROOT, path).split(/[\\/]/);
  const top = rel.length === 1 ? rel[0] : rel[0];
  if (rel.length === 1) {
    return { name: top, rank: RANK[top] ?? TOP_FILE_RANK };
  }
  const rank = RANK[top];
  if (rank === undefined) throw new Error(`no layer assigned to folder "${top}/" (${path})`);
  return { name: top, rank };
}

/** The code of a file without comments, so examples in JSDoc do not count. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of code(text).matchAll(re)) specs.push(m[1] ?? m[2]);
  return specs;
}

const files = sources(ROOT);

describe("layering (design §2)", () => {
  it("finds the source tree", () => {
    assert.ok(files.length > 40, `only ${files.length} files found under ${ROOT}`);
    assert.ok(files.some((f) => f.includes(`${join("session", "server_session.ts")}`)));
  });

  it("no module imports from a layer above its own", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = resolve(dirname(file), spec);
        const to = layerOf(target);
        if (to.rank > from.rank) {
          violations.push(`${relative(ROOT, file)} (${from.name}) imports ${spec} (${to.name})`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it("protocol/ imports only protocol/ and errors.ts; session/ only protocol/, session/ and errors.ts", () => {
    const violations: string[] = [];
    for (const file of files) {
      const layer = layerOf(file).name;
      if (layer !== "protocol" && layer !== "session") continue;
      const allowed = layer === "protocol" ? ["protocol", "errors.ts"] : [
        "protocol",
        "session",
        "errors.ts",
      ];
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) {
          violations.push(`${relative(ROOT, file)} imports a package or built-in: ${spec}`);
          continue;
        }
        const to = layerOf(resolve(dirname(file), spec)).name;
        if (!allowed.includes(to)) violations.push(`${relative(ROOT, file)} imports ${spec}`);
      }
    }
    assert.deepEqual(violations, []);
  });

  it("protocol/ and session/ have no timers, clocks, sockets or promises (sans-IO)", () => {
    const banned =
      /\b(setTimeout|setInterval|Date\.now|performance\.now|new Promise|async\s|await\s|Deno\.|Bun\.|process\.)/;
    const violations: string[] = [];
    for (const file of files) {
      const layer = layerOf(file).name;
      if (layer !== "protocol" && layer !== "session") continue;
      const lines = code(readFileSync(file, "utf8")).split("\n");
      lines.forEach((line, i) => {
        const m = banned.exec(line);
        if (m) violations.push(`${relative(ROOT, file)}:${i + 1}: ${m[1]}`);
      });
    }
    assert.deepEqual(violations, []);
  });

  it("a violation would be caught (the checker sees imports and banned calls)", () => {
    assert.deepEqual(importsOf(`import { a } from "../server.ts";\nexport * from "./x.ts";`), [
      "../server.ts",
      "./x.ts",
    ]);
    assert.deepEqual(importsOf(`/** import { a } from "../server.ts"; */ const x = 1;`), []);
    assert.equal(
      layerOf(join(ROOT, "hub", "x.ts")).rank > layerOf(join(ROOT, "protocol", "x.ts")).rank,
      true,
    );
  });
});
