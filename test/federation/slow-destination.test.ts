// Fan-out queues are per destination: a server that answers /send very slowly must not delay
// delivery to the others.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { signJson } from "../../shared/signed-json.js";
import { formatSigningKeySecret, parseSigningKeySecret, type SigningKey } from "../../shared/signing-key.js";
import type { ServerName } from "../../shared/ids.js";
import { signRequest } from "../../shared/x-matrix.js";
import { eventually, storedEvents, TestClient } from "./client.js";
import { LM_PREFIX } from "./forge.js";
import { freePort, startServers, stopServers, type TestServer } from "./harness.js";

const SLOW = "slow.test";
const SLOW_DELAY_MS = 8_000;

describe("a slow destination", () => {
  let servers: TestServer[] = [];
  let slow: Server;
  let slowUrl: string;
  let key: SigningKey;
  let sendsReceived = 0;

  beforeAll(async () => {
    key = await parseSigningKeySecret(formatSigningKeySecret(crypto.getRandomValues(new Uint8Array(32)), "slow1"));
    const port = await freePort();
    slowUrl = `http://127.0.0.1:${port}`;
    // A stand-in for a remote server: it publishes its key and takes a long time to answer /send.
    slow = createServer((req, res) => {
      void (async () => {
        if (req.url === "/_matrix/key/v2/server") {
          const doc = await signJson({ server_name: SLOW, valid_until_ts: Date.now() + 3_600_000, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, old_verify_keys: {} }, SLOW, key);
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
          return;
        }
        if (req.url?.includes("/send/")) {
          sendsReceived++;
          req.resume();
          await new Promise((r) => setTimeout(r, SLOW_DELAY_MS));
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
          return;
        }
        res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED"}');
      })();
    });
    await new Promise<void>((r) => slow.listen(port, "127.0.0.1", r));
    servers = await startServers(["hub.test", "p1.test"], { extraHosts: { [SLOW]: slowUrl } });
  });
  afterAll(async () => {
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
    await stopServers(servers);
  });

  /** A federation request signed as the slow server, straight to `to`. */
  async function asSlow(to: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const auth = await signRequest(key, SLOW as ServerName, to.name as ServerName, method, path, body);
    const res = await fetch(`${to.url}${path}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : canonicalJson(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("keeps delivering to other servers promptly while one destination takes seconds per transaction", async () => {
    const [hub, p1] = servers as [TestServer, TestServer];
    const alice = await TestClient.register(hub, "alice");
    const bob = await TestClient.register(p1, "bob");
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    await bob.join(roomId, "hub.test");

    // The slow server's user joins through the hub by make_join / send_join.
    const user = `@slowpoke:${SLOW}`;
    const make = await asSlow(hub, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(user)}?ver=org.matrix.i-d.ralston-mimi-linearized-matrix.02`);
    expect(make.status).toBe(200);
    const lpdu = await buildLpdu({ room_id: roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: { membership: "join" } }, key, hub.name);
    const join = await asSlow(hub, "POST", `${LM_PREFIX}/send_join/slowjoin`, lpdu);
    expect(join.status).toBe(200);

    // Messages now fan out to p1 and to the slow server; the slow one holds its transaction for seconds.
    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await alice.send(roomId, `while slow ${i}`));
    const onP1 = await eventually(async () => {
      const stored = new Set((await storedEvents(p1, roomId)).map((e) => e.event_id));
      return ids.every((id) => stored.has(id)) ? Date.now() - started : undefined;
    }, "p1 to hold every message", SLOW_DELAY_MS);
    console.log(`p1 held all 10 messages after ${onP1} ms; the slow server has answered nothing yet (its first /send takes ${SLOW_DELAY_MS} ms)`);
    expect(sendsReceived).toBeGreaterThan(0);
    expect(onP1).toBeLessThan(SLOW_DELAY_MS / 2);
  }, 60_000);
});
