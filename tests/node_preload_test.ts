// The Node preload of `npm run serve` / `npm run rtmp` (cli/node_preload.mjs), run with the
// project's Node 24 as a child process from whichever runtime runs this file.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { repoPath } from "./support/runtime.ts";

const NODE = repoPath("node_modules/.bin/node");
/** A second preload that reports, at exit, whether Node loaded its TypeScript stripper. */
const REPORT = "data:text/javascript,process.on('exit',()=>process.stderr.write('stripper:'+" +
  "process.moduleLoadList.some((m)=>m.includes('amaro'))+'\\n'))";

function run(cwd: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(NODE, args, { cwd, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("cli/node_preload.mjs", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("runs the rtmp tool from stripped copies: Node never loads its TypeScript stripper", () => {
    const plain = run(repoPath("."), ["--import", REPORT, "cli.ts", "--help"]);
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.err, /stripper:true/, "without the preload Node strips the sources");
    const preloaded = run(repoPath("."), [
      "--import",
      "./cli/node_preload.mjs",
      "--import",
      REPORT,
      "cli.ts",
      "--help",
    ]);
    assert.equal(preloaded.code, 0, preloaded.err);
    assert.equal(preloaded.out, plain.out);
    assert.match(preloaded.err, /stripper:false/);
  });

  it("package.json's serve script starts the server from stripped copies and stops on SIGTERM", async () => {
    const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8"));
    const words = String(pkg.scripts.serve).split(/\s+/);
    assert.equal(words[0], "node");
    const entry = words.indexOf("cli.ts");
    const args = [
      ...words.slice(1, entry),
      "--import",
      REPORT,
      ...words.slice(entry),
      "--listen",
      "127.0.0.1:0",
    ];
    const child = spawn(NODE, args, { cwd: repoPath("."), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => out += d);
    child.stderr.on("data", (d) => err += d);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const deadline = Date.now() + 30_000;
    while (!/listening on rtmp:\/\/127\.0\.0\.1:\d+/.test(out + err) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // By pid, as stopScript() does: Deno reports a child signalled through kill() as killed.
    process.kill(child.pid!, "SIGTERM");
    const code = await exited;
    assert.match(out + err, /listening on rtmp:\/\/127\.0\.0\.1:\d+/, err);
    assert.equal(code, 0, err);
    assert.match(err, /stripper:false/);
  });

  it("strips a changed source again, keeps lines in place, and leaves other files to Node", () => {
    // A checkout of two files: the preload takes its root from where it lies.
    const root = mkdtempSync(join(tmpdir(), "node-preload-"));
    dirs.push(root);
    mkdirSync(join(root, "cli"));
    copyFileSync(repoPath("cli/node_preload.mjs"), join(root, "cli", "node_preload.mjs"));
    writeFileSync(join(root, "package.json"), '{ "type": "module" }');
    const main = join(root, "main.ts");
    const args = ["--import", "./cli/node_preload.mjs", "--import", REPORT, "main.ts"];
    writeFileSync(
      main,
      "const n: number = 1;\nconsole.log(n, new Error().stack!.split('\\n')[1].match(/:(\\d+):/)![1]);\n",
    );
    const first = run(root, args);
    assert.equal(first.code, 0, first.err);
    assert.equal(first.out, "1 2\n", "the value, and the line of the Error as in the source");
    assert.match(first.err, /stripper:false/);
    const cached = join(root, "node_modules", ".cache", "x-rtmp-node", "main.ts");
    assert.match(readFileSync(cached, "utf8"), /const n {9}= 1;/);
    writeFileSync(main, readFileSync(main, "utf8").replace("= 1;", "= 17;"));
    const second = run(root, args);
    assert.equal(second.code, 0, second.err);
    assert.equal(second.out, "17 2\n");
    assert.match(second.err, /stripper:false/);
  });
});
