// A remote server whose key server returns garbage, or never answers: its requests are refused
// with 401 M_UNAUTHORIZED (never a 500), nothing is stored, and everyone else carries on.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import type { ServerName } from "../../shared/ids.js";
import { formatSigningKeySecret, parseSigningKeySecret, type SigningKey } from "../../shared/signing-key.js";
import { signRequest } from "../../shared/x-matrix.js";
import { storedEvents, TestClient } from "./client.js";
import { LM_PREFIX } from "./forge.js";
import { freePort, startServers, stopServers, type TestServer } from "./harness.js";

const GARBAGE = "garbage.test";
const SILENT = "silent.test";

describe("remote key servers that misbehave", () => {
  let servers: TestServer[] = [];
  let fakes: Server[] = [];
  let key: SigningKey;

  beforeAll(async () => {
    key = await parseSigningKeySecret(formatSigningKeySecret(crypto.getRandomValues(new Uint8Array(32)), "k1"));
    const garbagePort = await freePort();
    const silentPort = await freePort();
    const garbage = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end('{"server_name": "garbage.test", "verify_keys": [1.5, }}');
    });
    // Accepts the connection and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => garbage.listen(garbagePort, "127.0.0.1", r));
    await new Promise<void>((r) => silent.listen(silentPort, "127.0.0.1", r));
    fakes = [garbage, silent];
    servers = await startServers(["hub.test", "p1.test"], {
      extraHosts: { [GARBAGE]: `http://127.0.0.1:${garbagePort}`, [SILENT]: `http://127.0.0.1:${silentPort}` },
    });
  });
  afterAll(async () => {
    for (const f of fakes) {
      f.closeAllConnections();
      await new Promise((r) => f.close(r));
    }
    await stopServers(servers);
  });

  async function sendAs(origin: string, to: TestServer, body: unknown): Promise<{ status: number; json: Record<string, unknown>; contentType: string | null }> {
    const path = `${LM_PREFIX}/send/t${Date.now()}`;
    const auth = await signRequest(key, origin as ServerName, to.name as ServerName, "PUT", path, body);
    const res = await fetch(`${to.url}${path}`, { method: "PUT", headers: { authorization: auth, "content-type": "application/json" }, body: canonicalJson(body) });
    return { status: res.status, contentType: res.headers.get("content-type"), json: (await res.json()) as Record<string, unknown> };
  }

  it("refuses requests from a server whose key server answers garbage, or times out, with 401 and stores nothing", async () => {
    const [hub, p1] = servers as [TestServer, TestServer];
    const alice = await TestClient.register(hub, "alice");
    const bob = await TestClient.register(p1, "bob");
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    await bob.join(roomId, "hub.test");
    const before = (await storedEvents(hub, roomId)).length;
    const body = { pdus: [{ room_id: roomId, type: "m.room.message", sender: `@x:${GARBAGE}`, content: { body: "hi" } }] };

    const garbage = await sendAs(GARBAGE, hub, body);
    expect(garbage.status).toBe(401);
    expect(garbage.contentType).toBe("application/json");
    expect(garbage.json["errcode"]).toBe("M_UNAUTHORIZED");

    const started = Date.now();
    const silent = await sendAs(SILENT, hub, body);
    expect(silent.status).toBe(401);
    expect(silent.json["errcode"]).toBe("M_UNAUTHORIZED");
    console.log(`a silent key server costs a request ${Date.now() - started} ms before the 401`);

    expect((await storedEvents(hub, roomId)).length).toBe(before);
    // The room carries on for well-behaved servers.
    const id = await bob.send(roomId, "still fine");
    expect((await storedEvents(hub, roomId)).some((e) => e.event_id === id)).toBe(true);
  }, 60_000);
});
