// The README's first command, exercised for real: `npm start` on a fresh server name must answer
// GET /_matrix/key/v2/server within 30 s with a self-signed key document; the README's side-by-side
// recipe must work when both hubs start at once; a PORT alone names the server after it; and what a
// user wrote in the vars file survives every start.

import { execFileSync, spawn } from "node:child_process";
import { get as httpsGet } from "node:https";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import { verifyJsonSignature } from "../../shared/signed-json.js";
import { freePort } from "../support/ports.js";

const root = join(import.meta.dirname, "..", "..");

interface KeyDocument {
  server_name: string;
  verify_keys: Record<string, { key: string }>;
}

const slugOf = (serverName: string) => serverName.replace(/[^A-Za-z0-9.-]/g, "_");
const varsFileOf = (serverName: string) => join(root, `.dev.vars.${slugOf(serverName)}`);

const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
});

/** Removes a server name's vars file and state, now and after the tests. */
function freshState(serverName: string): void {
  const clean = () => {
    rmSync(varsFileOf(serverName), { force: true });
    rmSync(join(root, ".wrangler", `state-${slugOf(serverName)}`), { recursive: true, force: true });
    for (const ext of ["key", "crt"]) rmSync(join(root, ".wrangler", "tls", `${slugOf(serverName)}.${ext}`), { force: true });
  };
  clean();
  cleanups.push(clean);
}

interface Started {
  output: () => string;
  /** The key document, once the hub answers (undefined if it did not within the time). */
  keyDocument: (timeoutMs?: number) => Promise<KeyDocument | undefined>;
}

/** `npm start` with these variables (SERVER_NAME and INSPECTOR_PORT unset unless given); stopped after the tests. */
function npmStart(vars: Record<string, string>): Started {
  const env: NodeJS.ProcessEnv = { ...process.env, ...vars };
  for (const k of ["SERVER_NAME", "INSPECTOR_PORT", "FEDERATION_HOST_MAP", "HTTPS"]) if (!(k in vars)) delete env[k];
  const child = spawn("npm", ["start"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d));
  child.stderr?.on("data", (d: Buffer) => (output += d));
  cleanups.push(() => {
    try {
      process.kill(-(child.pid as number), "SIGTERM");
    } catch {
      /* already gone */
    }
  });
  return {
    output: () => output,
    async keyDocument(timeoutMs = 45_000) {
      const started = Date.now();
      while (Date.now() - started < timeoutMs) {
        try {
          const res = await fetch(`http://127.0.0.1:${vars["PORT"]}/_matrix/key/v2/server`);
          if (res.ok) return (await res.json()) as KeyDocument;
        } catch {
          /* not listening yet */
        }
        if (child.exitCode !== null) return undefined;
        await new Promise((r) => setTimeout(r, 250));
      }
      return undefined;
    },
  };
}

async function expectSelfSigned(doc: KeyDocument | undefined, serverName: string, what: string): Promise<string> {
  expect(doc, what).toBeDefined();
  const d = doc as KeyDocument;
  expect(d.server_name).toBe(serverName);
  const [keyId, { key }] = Object.entries(d.verify_keys)[0]!;
  expect(keyId).toMatch(/^ed25519:/);
  expect(await verifyJsonSignature(d, serverName, keyId, decodeBase64(key))).toBe(true);
  return keyId;
}

describe("npm start", () => {
  it("serves a verifiable key document within 30 s on first run", async () => {
    const port = String(await freePort());
    const serverName = `smoke.localhost:${port}`;
    freshState(serverName);
    const hub = npmStart({ SERVER_NAME: serverName, PORT: port });
    await expectSelfSigned(await hub.keyDocument(30_000), serverName, `no answer within 30 s:\n${hub.output()}`);
  }, 60_000);

  it("starts two hubs launched at the same moment, as the README's side-by-side recipe does", async () => {
    const [a, b] = [String(await freePort()), String(await freePort())];
    const names = [`side-a.localhost:${a}`, `side-b.localhost:${b}`] as const;
    for (const n of names) freshState(n);
    const hubs = [
      npmStart({ SERVER_NAME: names[0], PORT: a, FEDERATION_HOST_MAP: JSON.stringify({ [names[1]]: `http://127.0.0.1:${b}` }) }),
      npmStart({ SERVER_NAME: names[1], PORT: b, FEDERATION_HOST_MAP: JSON.stringify({ [names[0]]: `http://127.0.0.1:${a}` }) }),
    ];
    const docs = await Promise.all(hubs.map((h) => h.keyDocument(60_000)));
    for (const [i, h] of hubs.entries()) {
      expect(h.output()).not.toContain("Address already in use");
      await expectSelfSigned(docs[i], names[i] as string, `${names[i]} did not come up:\n${h.output()}`);
    }
  }, 90_000);

  it("names the server localhost:<PORT> when only PORT is given, with that name's own key file", async () => {
    const port = String(await freePort());
    const serverName = `localhost:${port}`;
    freshState(serverName);
    // The key file the README documents for that name: the hub must sign with the key planted there.
    const secret = "ed25519:planted:nwBTmxKOhSLH3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w";
    writeFileSync(varsFileOf(serverName), `SIGNING_KEY="${secret}"\n`);
    const hub = npmStart({ PORT: port });
    const doc = await hub.keyDocument();
    const keyId = await expectSelfSigned(doc, serverName, `no answer:\n${hub.output()}`);
    expect(keyId).toBe("ed25519:planted");
    expect(doc?.verify_keys[keyId]?.key).toBe((await parseSigningKeySecret(secret)).publicKeyBase64);
  }, 90_000);

  it("keeps what a user wrote in the vars file: comments, JSON values, its own key; adds only what is missing", async () => {
    const port = String(await freePort());
    const serverName = `vars.localhost:${port}`;
    freshState(serverName);
    const written = [
      "# my local settings",
      'SIGNING_KEY="ed25519:mine:nwBTmxKOhSLH3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w"',
      'RATE_LIMITS={"token":{"capacity":500,"refillPerSecond":100}}',
      "KEY_NOTARIES=notary.example # trusted for now",
      "",
    ].join("\n");
    writeFileSync(varsFileOf(serverName), written);
    const hub = npmStart({ SERVER_NAME: serverName, PORT: port });
    const keyId = await expectSelfSigned(await hub.keyDocument(), serverName, `no answer:\n${hub.output()}`);
    expect(keyId).toBe("ed25519:mine");
    const after = readFileSync(varsFileOf(serverName), "utf8");
    expect(after.startsWith(written), after).toBe(true);
    // The admin token was missing: it is added, once, after what was there.
    const added = after.slice(written.length);
    expect(added).toMatch(/^# Added by `npm start`:\nADMIN_TOKEN="[A-Za-z0-9_-]{32}"\n$/);
  }, 90_000);

  it("serves HTTPS with HTTPS=true, on a self-signed certificate for its host made on first run under .wrangler/tls", async () => {
    const port = String(await freePort());
    const serverName = `127.0.0.1:${port}`;
    freshState(serverName);
    const hub = npmStart({ SERVER_NAME: serverName, PORT: port, HTTPS: "true" });
    const certPath = join(root, ".wrangler", "tls", `${slugOf(serverName)}.crt`);
    // Trusting exactly that certificate: the connection verifies only if it is what the hub serves, for 127.0.0.1.
    const fetchVerified = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsGet({ host: "127.0.0.1", port: Number(port), path: "/_matrix/key/v2/server", ca: readFileSync(certPath) }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
      });
    let answer: { status: number; body: string } | undefined;
    let lastError = "";
    for (const started = Date.now(); Date.now() - started < 60_000 && answer === undefined; ) {
      answer = await fetchVerified().catch((e: Error) => void (lastError = e.message));
      if (answer === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    expect(answer?.status, `${lastError}\n${hub.output()}`).toBe(200);
    await expectSelfSigned(JSON.parse(answer?.body ?? "{}") as KeyDocument, serverName, hub.output());
    expect(hub.output()).toContain(`https://127.0.0.1:${port}`);
    expect(execFileSync("git", ["check-ignore", certPath], { cwd: root, encoding: "utf8" }).trim()).toBe(certPath);
  }, 90_000);
});
