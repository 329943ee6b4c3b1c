// The README's `npm run demo`, run for real: three servers federate over loopback and the demo reports
// that the room's three timelines are identical; where Synapse is installed, a Synapse user joins the
// conversation through the converter, and without it (or with DEMO_SYNAPSE=0) that part is skipped with
// its reason. Also: a taken port fails clearly, before anything starts.

import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(undefined));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/** Whether scripts/synapse.sh can run Synapse here (the demo's own test). */
function synapseInstalled(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("bash", [join(root, "scripts", "synapse.sh"), "installed"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A base port whose next three ports are free too (held only while checking). */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held = await Promise.all([0, 1, 2, 3].map((i) => listen(base + i)));
    await Promise.all(held.map((s) => new Promise<void>((r) => (s ? s.close(() => r()) : r()))));
    if (held.every((s) => s !== undefined)) return base;
  }
  throw new Error("no four consecutive free ports");
}

function runDemo(basePort: number, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["run", "--silent", "demo"], {
      cwd: root,
      env: { ...process.env, DEMO_BASE_PORT: String(basePort), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every port the demo used is free again: its servers (and Synapse) are stopped. */
async function expectPortsFree(base: number): Promise<void> {
  const held = await Promise.all([0, 1, 2, 3].map((i) => listen(base + i)));
  await Promise.all(held.map((s) => new Promise<void>((res) => (s ? s.close(() => res()) : res()))));
  expect(held.every((s) => s !== undefined)).toBe(true);
}

describe("npm run demo", () => {
  const withSynapse = synapseInstalled();

  it(withSynapse ? "adds a Synapse user to the conversation through the converter and prints all four timelines" : "skips the Synapse part, saying why, when Synapse is not installed", async () => {
    const base = await freeBasePort();
    const r = await runDemo(base);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("Result: the three views are identical");
    if (withSynapse) {
      expect(r.stdout).toContain(`starting it as a fourth server, 127.0.0.1:${base + 3}`);
      for (const name of [`hub.localhost:${base}`, `p1.localhost:${base + 1}`, `p2.localhost:${base + 2}`]) expect(r.stdout).toContain(`LM room on ${name} since the pairing`);
      expect(r.stdout).toMatch(new RegExp(`Matrix room \\S+ on Synapse 127\\.0\\.0\\.1:${base + 3}`));
      expect(r.stdout).toContain("each exactly once in every view");
      // Synapse's data for the demo's name is gone with it.
      expect(existsSync(join(process.env["SYNAPSE_ROOT"] ?? "/var/cache/switchboard-synapse", "srv", `127.0.0.1:${base + 3}`))).toBe(false);
    } else {
      expect(r.stdout).toContain("Synapse part skipped:");
    }
    expect(r.stdout).toContain("stopped the servers and removed the demo state");
    await expectPortsFree(base);
  }, 240_000);

  it("runs three federating servers and reports that their three views are identical", async () => {
    const base = await freeBasePort();
    const r = await runDemo(base, { DEMO_SYNAPSE: "0" });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("Synapse part skipped: DEMO_SYNAPSE=0");
    expect(r.stdout).toContain("The protocol converter part (a Synapse user in the same conversation) was skipped");
    expect(r.stdout).not.toContain("on Synapse");
    expect(r.stdout).toContain("Result: the three views are identical");
    for (const name of [`hub.localhost:${base}`, `p1.localhost:${base + 1}`, `p2.localhost:${base + 2}`]) {
      expect(r.stdout).toContain(`Timeline on ${name}`);
    }
    expect(r.stdout).toContain('bob renamed the room to "Three servers, one timeline"');
    expect(r.stdout).toContain("stopped the servers and removed the demo state");
    const stateDir = /state in (\S+)\)/.exec(r.stdout)?.[1];
    expect(stateDir).toBeDefined();
    expect(existsSync(stateDir as string)).toBe(false);
    await expectPortsFree(base);
  }, 180_000);

  it("fails clearly, before starting anything, when one of its ports is taken", async () => {
    const base = await freeBasePort();
    const blocker = await listen(base + 1);
    try {
      const r = await runDemo(base);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${base + 1} (for p1.localhost:${base + 1}) is already in use`);
      expect(r.stderr).toContain("DEMO_BASE_PORT=");
      expect(r.stdout).not.toContain("bundling");
    } finally {
      await new Promise<void>((res) => blocker?.close(() => res()));
    }
  });
});
