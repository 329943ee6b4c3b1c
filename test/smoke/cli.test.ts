// The admin CLI (bin/switchboard.mjs), run as a child process against real servers: a hub and one
// participant server (so the hub has a destination whose delivery queue `outbox` can show).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import { eventually, TestClient } from "../federation/client.js";
import { freePort, startServers, stopServers, type TestServer } from "../federation/harness.js";

const root = join(import.meta.dirname, "..", "..");
const CLI = join(root, "bin", "switchboard.mjs");
const ADMIN_TOKEN = "test-admin-token"; // what the harness gives every server

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with a clean environment (no SWITCHBOARD_* from the caller) in `cwd`. */
function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  for (const k of Object.keys(env)) if (k.startsWith("SWITCHBOARD_") && !(opts.env && k in opts.env)) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? emptyDir, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let emptyDir: string;
let servers: TestServer[] = [];
let hub: TestServer;
let p1: TestServer;
let alice: TestClient;
let bob: TestClient;
let roomId: string;
const admin = () => ["--url", hub.url, "--admin-token", ADMIN_TOKEN];

beforeAll(async () => {
  emptyDir = mkdtempSync(join(tmpdir(), "sb-cli-"));
  // Short retries: the last tests take p1 down and bring it back.
  servers = await startServers(["hub.cli.test", "p1.cli.test"], { bindings: { FEDERATION_RETRY_BASE_MS: "200", FEDERATION_RETRY_MAX_MS: "1000" } });
  [hub, p1] = servers as [TestServer, TestServer];
  alice = await TestClient.register(hub, "alice");
  bob = await TestClient.register(p1, "bob");
  roomId = (await alice.createRoom({ name: "CLI room", topic: "testing the CLI" })).room_id;
  await alice.invite(roomId, bob.userId);
  await bob.join(roomId);
  await alice.send(roomId, "hello from the hub");
}, 60_000);

afterAll(async () => {
  await stopServers(servers);
  rmSync(emptyDir, { recursive: true, force: true });
});

describe("switchboard keygen", () => {
  it("prints a secret the server can parse, with the public key derived from its seed", async () => {
    const r = await cli(["keygen", "--version", "cli_1"]);
    expect(r.code).toBe(0);
    const secret = r.stdout.trim();
    expect(secret).toMatch(/^ed25519:cli_1:[A-Za-z0-9+/]{43}$/);
    const key = await parseSigningKeySecret(secret);
    expect(r.stderr.trim()).toBe(`public key ed25519:cli_1 ${key.publicKeyBase64}`);
  });

  it("prints secret, key ID and public key as JSON with --json, a fresh key each time", async () => {
    const [a, b] = await Promise.all([cli(["keygen", "--json"]), cli(["keygen", "--json"])]);
    const ka = JSON.parse(a.stdout) as { secret: string; key_id: string; public_key: string };
    const kb = JSON.parse(b.stdout) as { secret: string };
    const key = await parseSigningKeySecret(ka.secret);
    expect(ka.key_id).toBe(key.keyId);
    expect(ka.public_key).toBe(key.publicKeyBase64);
    expect(kb.secret).not.toBe(ka.secret);
  });

  it("rejects a key version with characters outside letters, digits and _ (exit 2)", async () => {
    const r = await cli(["keygen", "--version", "a:b"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--version may contain only letters, digits and _");
  });
});

describe("switchboard register", () => {
  it("creates a user who can then log in through the client API", async () => {
    const r = await cli(["register", "dave", "--password", "s3cret pass", "--url", hub.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Registered @dave:hub.cli.test");
    const login = await hub.fetch("/_matrix/client/v3/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "dave" }, password: "s3cret pass" }),
    });
    expect(login.status).toBe(200);
    expect(((await login.json()) as { user_id: string }).user_id).toBe("@dave:hub.cli.test");
  });

  it("generates and prints a password when none is given, and the token it prints works", async () => {
    const r = await cli(["register", "erin", "--url", hub.url, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { user_id: string; access_token: string; password: string };
    expect(out.user_id).toBe("@erin:hub.cli.test");
    expect(out.password.length).toBeGreaterThanOrEqual(16);
    const who = await hub.fetch("/_matrix/client/v3/account/whoami", { headers: { authorization: `Bearer ${out.access_token}` } });
    expect(((await who.json()) as { user_id: string }).user_id).toBe("@erin:hub.cli.test");
  });

  it("shows a Matrix error as errcode: error when the username is taken", async () => {
    const r = await cli(["register", "alice", "--password", "x", "--url", hub.url]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("switchboard: M_USER_IN_USE: Desired user ID is already taken");
  });

  it("does not offer --admin, which the hub cannot grant, and registers no one when given it", async () => {
    for (const help of [["--help"], ["register", "--help"]]) expect((await cli(help)).stdout).not.toMatch(/--admin\b(?!-token)/);
    const r = await cli(["register", "frank", "--admin", "--url", hub.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--admin'");
    const available = await hub.fetch("/_matrix/client/v3/register/available?username=frank");
    expect(available.status).toBe(200);
  });
});

describe("switchboard admin commands", () => {
  it("rooms lists a room created through the client API", async () => {
    const r = await cli(["rooms", ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^room\s+version\s+hub\s+creator\s+created/);
    expect(r.stdout).toContain(roomId);
    expect(r.stdout).toContain("@alice:hub.cli.test");
    const json = JSON.parse((await cli(["rooms", "--json", ...admin()])).stdout) as { rooms: Array<{ room_id: string; hub_server: string }> };
    expect(json.rooms).toContainEqual(expect.objectContaining({ room_id: roomId, hub_server: "hub.cli.test" }));
  });

  it("room shows the room's hub, timeline length and outbox", async () => {
    const r = await cli(["room", roomId, ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`room:    ${roomId}`);
    expect(r.stdout).toContain("hub:     hub.cli.test (this server)");
    expect(r.stdout).toMatch(/Outbox:/);
    const json = JSON.parse((await cli(["room", roomId, "--json", ...admin()])).stdout) as { isHub: boolean; lastPos: number; outbox: unknown[] };
    expect(json.isHub).toBe(true);
    expect(json.lastPos).toBeGreaterThanOrEqual(10);
    expect(Array.isArray(json.outbox)).toBe(true);
  });

  it("events lists the room's events in timeline order with sender, type, content and event ID", async () => {
    const r = await cli(["events", roomId, ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^pos\s+sender\s+type\s+content\s+event_id$/);
    expect(lines[2]).toMatch(/^1\s+@alice:hub\.cli\.test\s+m\.room\.create\s/);
    expect(r.stdout).toMatch(/@bob:p1\.cli\.test\s+m\.room\.member\s+@bob:p1\.cli\.test join/);
    expect(r.stdout).toMatch(/@alice:hub\.cli\.test\s+m\.room\.message\s+hello from the hub\s+\$/);
    const timeline = await alice.timeline(roomId);
    for (const e of timeline) expect(r.stdout).toContain(e.event_id);
  });

  it("events --from and --limit page through the timeline, and --json gives positions and PDUs", async () => {
    const r = await cli(["events", roomId, "--from", "2", "--limit", "3", "--json", ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    const { events } = JSON.parse(r.stdout) as { events: Array<{ pos: number; event_id: string; pdu: { type: string } }> };
    expect(events.map((e) => e.pos)).toEqual([3, 4, 5]);
    const table = await cli(["events", roomId, "--limit", "2", ...admin()]);
    expect(table.stdout).toContain("2 events; next page: --from 2");
  });

  it("state shows the room's current state", async () => {
    const r = await cli(["state", roomId, ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/m\.room\.name\s+""\s+@alice:hub\.cli\.test\s+name: CLI room/);
    expect(r.stdout).toMatch(/m\.room\.topic\s+""\s+@alice:hub\.cli\.test\s+topic: testing the CLI/);
    expect(r.stdout).toMatch(/m\.room\.member\s+@bob:p1\.cli\.test\s+@bob:p1\.cli\.test\s+join\s+\$/);
    const json = JSON.parse((await cli(["state", roomId, "--json", ...admin()])).stdout) as { state: Array<{ pdu: { type: string } }> };
    expect(json.state[0]?.pdu.type).toBe("m.room.create");
  });

  it("outbox shows the delivery queue of a destination the hub has sent to", async () => {
    // A fresh delivery: the queue keeps its last success in memory, which an idle queue may have lost.
    await alice.send(roomId, "for the outbox");
    await eventually(async () => {
      const j = JSON.parse((await cli(["outbox", "p1.cli.test", "--json", ...admin()])).stdout) as { lastSuccessTs: number | null; queuedPdus: number; pendingEvents: number };
      return j.lastSuccessTs !== null && j.queuedPdus === 0 && j.pendingEvents === 0 ? true : undefined;
    }, "the hub to deliver to p1");
    const r = await cli(["outbox", "p1.cli.test", ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^destination:\s+p1\.cli\.test$/m);
    expect(r.stdout).toMatch(/^pending events:\s+0 in 0 rooms, not yet reported delivered$/m);
    expect(r.stdout).toMatch(/queued PDUs:\s+0/);
    expect(r.stdout).toMatch(/last success:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
  });

  it("outbox says so for a server it has never sent to, and names that server in its JSON", async () => {
    const r = await cli(["outbox", "nobody.example", ...admin()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("No deliveries to nobody.example yet: nothing queued, nothing sent.");
    const json = JSON.parse((await cli(["outbox", "nobody.example", "--json", ...admin()])).stdout) as { destination: string; pendingEvents: number };
    expect(json.destination).toBe("nobody.example");
    expect(json.pendingEvents).toBe(0);
  });

  it("shows the admin API's Matrix error for an unknown room", async () => {
    const r = await cli(["room", "!nope:hub.cli.test", ...admin()]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("switchboard: M_NOT_FOUND: Room not known here");
  });

  it("pair pairs an LM room with a new Matrix v12 room, and shows the auth rules' refusal for a member without the power", async () => {
    const lm = (await alice.createRoom({ room_version: "org.matrix.i-d.ralston-mimi-linearized-matrix.02", preset: "public_chat" })).room_id;
    const carol = await TestClient.register(hub, "carolpair");
    await carol.join(lm);
    const refused = await cli(["pair", lm, "--user", carol.userId, ...admin()]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("M_FORBIDDEN");
    const r = await cli(["pair", lm, "--user", alice.userId, "--json", ...admin()]);
    expect(r.code).toBe(0);
    const peer = (JSON.parse(r.stdout) as { peer_room_id: string }).peer_room_id;
    const shown = (await cli(["room", peer, ...admin()])).stdout;
    expect(shown).toMatch(/^version:\s+12$/m);
  });

  it("pair-converter names p1's converter in both pair events, and converter-join on p1 joins its service user to both rooms", async () => {
    const lm = (await alice.createRoom({ room_version: "org.matrix.i-d.ralston-mimi-linearized-matrix.02", preset: "public_chat" })).room_id;
    const peer = (JSON.parse((await cli(["pair", lm, "--user", alice.userId, "--public", "--json", ...admin()])).stdout) as { peer_room_id: string }).peer_room_id;
    const named = await cli(["pair-converter", lm, "--user", alice.userId, "--server", p1.name, ...admin()]);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toMatch(new RegExp(`^converters:\\s+${hub.name}, ${p1.name}$`, "m"));
    const joined = await cli(["converter-join", lm, "--via", hub.name, "--json", "--url", p1.url, "--admin-token", ADMIN_TOKEN]);
    expect(joined.code, joined.stderr).toBe(0);
    expect(JSON.parse(joined.stdout)).toEqual({ room_id: lm, peer_room_ids: [peer] });
    const missing = await cli(["converter-join", lm, "--url", p1.url, "--admin-token", ADMIN_TOKEN]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--via <hub> is required");
  });
});

describe("switchboard errors and help", () => {
  it("exits 2 with the usage for an unknown command", async () => {
    const r = await cli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Unknown command "frobnicate"');
    expect(r.stderr).toContain("Usage: switchboard <command>");
    expect(r.stdout).toBe("");
  });

  it("exits 2 for a missing argument, an unknown option or a bad number", async () => {
    const missing = await cli(["events"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("Missing <roomId>.");
    const unknown = await cli(["rooms", "--colour"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--colour'");
    const bad = await cli(["events", roomId, "--limit", "lots", ...admin()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--limit must be a whole number of at least 1, got "lots"');
  });

  it("has --help for every command", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    for (const command of ["keygen", "register", "rooms", "room", "events", "state", "outbox"]) {
      expect(top.stdout).toContain(`  ${command} `);
      const r = await cli([command, "--help"]);
      expect(r.code, command).toBe(0);
      expect(r.stdout).toContain(`Usage: switchboard ${command}`);
      expect(r.stdout).toContain("--admin-token <token>");
    }
  });

  it("says how to pass the admin token when none is configured, and exits non-zero", async () => {
    const r = await cli(["rooms", "--url", hub.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`No admin token for ${hub.url}`);
    expect(r.stderr).toContain("--admin-token <token>");
    expect(r.stderr).toContain("SWITCHBOARD_ADMIN_TOKEN");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("reads ADMIN_TOKEN from .dev.vars in the current directory for a local URL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-cli-vars-"));
    try {
      writeFileSync(join(dir, ".dev.vars"), `SIGNING_KEY="ed25519:x:AAAA"\nADMIN_TOKEN="${ADMIN_TOKEN}"\n`);
      const r = await cli(["rooms", "--url", hub.url], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(roomId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes the URL and token from SWITCHBOARD_URL and SWITCHBOARD_ADMIN_TOKEN", async () => {
    const r = await cli(["rooms"], { env: { SWITCHBOARD_URL: hub.url, SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(roomId);
  });

  it("explains a rejected admin token (401) and how to pass the right one", async () => {
    const r = await cli(["rooms", "--url", hub.url, "--admin-token", "wrong"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("M_UNKNOWN_TOKEN: Wrong admin token");
    expect(r.stderr).toContain("refused the token from --admin-token");
    expect(r.stderr).toContain("--admin-token <token>");
  });

  it("says the server is unreachable, without a stack trace", async () => {
    const port = await freePort();
    const r = await cli(["rooms", "--url", `http://127.0.0.1:${port}`, "--admin-token", "x"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `switchboard: Cannot reach http://127.0.0.1:${port} (connection refused). Is the hub running? Start one with \`npm start\`, or point --url at it.`,
    );
  });
});

// Last: these take p1 down (and bring it back).
describe("switchboard room and outbox while a destination is down", () => {
  interface RoomJson {
    outbox: Array<{ destination: string; count: number }>;
  }
  interface OutboxJson {
    pendingEvents: number;
    pendingByRoom: Array<{ roomId: string; count: number }>;
    failures: number;
    lastError: string | null;
  }
  const roomJson = async () => JSON.parse((await cli(["room", roomId, "--json", ...admin()])).stdout) as RoomJson;
  const outboxJson = async () => JSON.parse((await cli(["outbox", "p1.cli.test", "--json", ...admin()])).stdout) as OutboxJson;
  const owedToP1 = (r: RoomJson) => r.outbox.find((o) => o.destination === "p1.cli.test")?.count ?? 0;

  it("agree on what is pending for it: the events its rooms hold, in total and per room", async () => {
    await eventually(async () => ((owedToP1(await roomJson())) === 0 ? true : undefined), "p1 to have reported everything delivered");
    await p1.stop();
    // More than one transaction's worth (50), so the queue cannot hold them all in its retried transaction.
    for (let i = 0; i < 60; i++) await alice.send(roomId, `while p1 is down ${i}`);
    await eventually(async () => ((await outboxJson()).failures >= 1 ? true : undefined), "the hub to fail to reach p1");

    const [room, outbox] = [await roomJson(), await outboxJson()];
    expect(owedToP1(room)).toBe(60);
    expect(outbox.pendingEvents).toBe(60);
    expect(outbox.pendingByRoom).toEqual([{ roomId, count: 60 }]);

    const roomText = (await cli(["room", roomId, ...admin()])).stdout;
    expect(roomText).toMatch(/p1\.cli\.test\s+60$/m);
    const outboxText = (await cli(["outbox", "p1.cli.test", ...admin()])).stdout;
    expect(outboxText).toMatch(/^pending events:\s+60 in 1 room, not yet reported delivered$/m);
    expect(outboxText).toContain(roomId);
  });

  it("says the destination could not be reached, and at which URL, not HTTP 0", async () => {
    const outbox = await outboxJson();
    expect(outbox.lastError).toContain(`Cannot reach p1.cli.test at ${p1.url}`);
    expect(outbox.lastError).not.toContain("HTTP 0");
    const text = (await cli(["outbox", "p1.cli.test", ...admin()])).stdout;
    expect(text).toMatch(new RegExp(`^last error:\\s+no answer: Cannot reach p1\\.cli\\.test at ${p1.url.replace(/\./g, "\\.")}: `, "m"));
  });

  it("agree again once the destination is back and has everything", async () => {
    await p1.start();
    await eventually(async () => {
      const [room, outbox] = [await roomJson(), await outboxJson()];
      return owedToP1(room) === 0 && outbox.pendingEvents === 0 ? true : undefined;
    }, "p1 to have everything and both views to say so");
    expect((await outboxJson()).pendingByRoom).toEqual([]);
    expect((await cli(["room", roomId, ...admin()])).stdout).toContain("Outbox: empty");
  });
});
