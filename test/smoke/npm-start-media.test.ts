// `npm start` keeps media like the rest of its state: an upload made before a restart is still
// there after it (R2 persisted in the state directory beside D1 and the Durable Objects).

import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pngImage } from "../support/media-images.js";
import { freePort } from "../support/ports.js";

const root = join(import.meta.dirname, "..", "..");
const running: ChildProcess[] = [];
let cleanState: (() => void) | undefined;

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    try {
      process.kill(-(child.pid as number), "SIGTERM");
    } catch {
      resolve();
    }
  });
}

afterAll(async () => {
  for (const c of running) await stop(c);
  cleanState?.();
});

async function npmStart(port: string, serverName: string): Promise<{ child: ChildProcess; output: () => string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["INSPECTOR_PORT", "FEDERATION_HOST_MAP"]) delete env[k];
  Object.assign(env, { PORT: port, SERVER_NAME: serverName });
  const child = spawn("npm", ["start"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  running.push(child);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d));
  child.stderr?.on("data", (d: Buffer) => (output += d));
  const started = Date.now();
  while (Date.now() - started < 60_000) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/_matrix/key/v2/server`)).ok) return { child, output: () => output };
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`npm start did not come up:\n${output}`);
}

describe("npm start and media", () => {
  it("keeps an upload across a restart", async () => {
    const port = String(await freePort());
    const serverName = `media.localhost:${port}`;
    const slug = serverName.replace(/[^A-Za-z0-9.-]/g, "_");
    cleanState = () => {
      rmSync(join(root, `.dev.vars.${slug}`), { force: true });
      rmSync(join(root, ".wrangler", `state-${slug}`), { recursive: true, force: true });
    };
    cleanState();
    const base = `http://127.0.0.1:${port}`;

    const first = await npmStart(port, serverName);
    const reg = await fetch(`${base}/_matrix/client/v3/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "keeper", password: "correct horse battery", auth: { type: "m.login.dummy" } }),
    });
    const token = ((await reg.json()) as { access_token: string }).access_token;
    const png = pngImage(20, 20);
    const up = await fetch(`${base}/_matrix/media/v3/upload?filename=kept.png`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "image/png" }, body: png });
    expect(up.status).toBe(200);
    const mxc = ((await up.json()) as { content_uri: string }).content_uri;
    await stop(first.child);

    await npmStart(port, serverName);
    const got = await fetch(`${base}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(got.status).toBe(200);
    expect(got.headers.get("content-disposition")).toBe("inline; filename=kept.png");
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(png);
  }, 180_000);
});
