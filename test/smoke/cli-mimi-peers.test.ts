// The CLI's MIMI peer commands (bin/mimi-peers.mjs) as a child process against a real server.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, stopServers, type TestServer } from "../federation/harness.js";

const CLI = join(import.meta.dirname, "..", "..", "bin", "switchboard.mjs");
const ADMIN_TOKEN = "test-admin-token"; // what the harness gives every server
const FP = "ab".repeat(32);

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("SWITCHBOARD_")) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let servers: TestServer[] = [];
let hub: TestServer;
const admin = () => ["--url", hub.url, "--admin-token", ADMIN_TOKEN];

beforeAll(async () => {
  servers = await startServers(["hub.peers.test"]);
  hub = servers[0]!;
}, 60_000);

afterAll(async () => {
  await stopServers(servers);
});

describe("switchboard mimi-peer-add / mimi-peers / mimi-peer-remove", () => {
  it("adds a peer by an openssl-style fingerprint, lists it, and removes it", async () => {
    const colons = FP.match(/../g)!.join(":").toUpperCase();
    const add = await cli(["mimi-peer-add", colons, "follower.example", ...admin()]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout.trim()).toBe(`MIMI peer follower.example accepted by certificate ${FP}`);

    const list = await cli(["mimi-peers", ...admin()]);
    expect(list.stdout).toMatch(new RegExp(`^follower\\.example\\s+${FP}\\s+\\d{4}-`, "m"));
    const json = JSON.parse((await cli(["mimi-peers", "--json", ...admin()])).stdout) as { peers: Array<{ fingerprint: string; domain: string }> };
    expect(json.peers).toContainEqual(expect.objectContaining({ fingerprint: FP, domain: "follower.example" }));

    const rm = await cli(["mimi-peer-remove", FP, ...admin()]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await cli(["mimi-peers", ...admin()])).stdout.trim()).toBe(`No MIMI peers on ${new URL(hub.url).origin}.`);
  });

  it("shows the server's error for a malformed fingerprint and an unknown removal, exit 1", async () => {
    const bad = await cli(["mimi-peer-add", "xyz", "follower.example", ...admin()]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("M_INVALID_PARAM");
    const gone = await cli(["mimi-peer-remove", "cd".repeat(32), ...admin()]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("M_NOT_FOUND");
  });

  it("wants both arguments of mimi-peer-add (usage error, exit 2)", async () => {
    const r = await cli(["mimi-peer-add", FP, ...admin()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Missing <domain>");
  });
});
