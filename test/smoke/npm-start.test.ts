// The README's first command, exercised for real: `npm start` on a fresh server name must answer
// GET /_matrix/key/v2/server within 30 s with a self-signed key document.

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { verifyJsonSignature } from "../../shared/signed-json.js";
import { freePort } from "../support/ports.js";

const root = join(import.meta.dirname, "..", "..");

describe("npm start", () => {
  let stop = () => {};
  let cleanup = () => {};
  afterAll(() => {
    stop();
    cleanup();
  });

  it("serves a verifiable key document within 30 s on first run", async () => {
    const port = await freePort();
    const serverName = `smoke.localhost:${port}`;
    const slug = serverName.replace(/[^A-Za-z0-9.-]/g, "_");
    cleanup = () => {
      rmSync(join(root, `.dev.vars.${slug}`), { force: true });
      rmSync(join(root, ".wrangler", `state-${slug}`), { recursive: true, force: true });
    };
    cleanup();
    const child = spawn("npm", ["start"], {
      cwd: root,
      env: { ...process.env, SERVER_NAME: serverName, PORT: String(port) },
      stdio: "ignore",
      detached: true,
    });
    stop = () => {
      try {
        process.kill(-(child.pid as number), "SIGTERM");
      } catch {
        /* already gone */
      }
    };
    const started = Date.now();
    let doc: Record<string, unknown> | undefined;
    while (Date.now() - started < 30_000 && !doc) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/_matrix/key/v2/server`);
        if (res.ok) doc = (await res.json()) as Record<string, unknown>;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect(doc, "no answer within 30 s").toBeDefined();
    const d = doc as { server_name: string; verify_keys: Record<string, { key: string }> };
    expect(d.server_name).toBe(serverName);
    const [keyId, { key }] = Object.entries(d.verify_keys)[0]!;
    expect(keyId).toMatch(/^ed25519:/);
    expect(await verifyJsonSignature(d, serverName, keyId, decodeBase64(key))).toBe(true);
  }, 60_000);
});
