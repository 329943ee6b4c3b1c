// Switchboard with Matrix homeservers as peers, in the ordinary suite (the real Synapse runs in
// `npm run test:synapse`): a Matrix-only server (played here by a plain HTTP server that knows no LM
// path) gets transactions on /v1/send with Matrix-form EDUs; a Matrix server's device-list resync
// (GET /v1/user/devices) is answered; Matrix-form device-list and signing-key EDUs reach /sync.

import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { canonicalJsonBytes } from "../../shared/canonical-json.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { verifyEd25519 } from "../../shared/signing-key.js";
import { parseXMatrixHeader, signedRequestObject } from "../../shared/x-matrix.js";
import { KeyDevice } from "../support/e2ee-keys.js";
import { eventually, TestClient } from "./client.js";
import { freePort, startServers, stopServers, type TestServer } from "./harness.js";

const MATRIX = "matrix.test";

interface Received {
  method: string;
  path: string;
  authorization: string;
  body: Record<string, unknown>;
}

/** A Matrix-only homeserver: unknown federation paths are 404 M_UNRECOGNIZED, as Synapse answers them. */
async function matrixOnlyServer(port: number, seen: Received[]): Promise<Server> {
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = "";
      req.on("data", (c: Buffer) => (s += c.toString()));
      req.on("end", () => resolve(s));
    });
  const server = createServer(async (req, res) => {
    const text = await read(req);
    const path = req.url ?? "";
    seen.push({ method: req.method ?? "", path, authorization: req.headers.authorization ?? "", body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
    res.setHeader("content-type", "application/json");
    if (req.method === "PUT" && path.startsWith("/_matrix/federation/v1/send/")) return res.end(JSON.stringify({ pdus: {} }));
    res.statusCode = 404;
    res.end(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return server;
}

async function register(server: TestServer, name: string): Promise<TestClient> {
  return TestClient.register(server, name);
}

describe("Matrix homeservers as peers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let peer: Server;
  const seen: Received[] = [];

  beforeAll(async () => {
    const port = await freePort();
    peer = await matrixOnlyServer(port, seen);
    servers = await startServers(["hub.test", "p1.test"], { extraHosts: { [MATRIX]: `http://127.0.0.1:${port}` } });
    [hub, p1] = servers as [TestServer, TestServer];
  });
  afterAll(async () => {
    await stopServers(servers);
    await new Promise((r) => peer?.close(r));
  });

  it("sends to-device messages for a Matrix-only server on /v1/send as Matrix's m.direct_to_device, signed for it, after its LM path answers 404", async () => {
    const alice = await register(hub, "alice");
    await alice.request("PUT", "/sendToDevice/m.room.encrypted/td1", { messages: { [`@m:${MATRIX}`]: { MDEV: { ciphertext: "c1" } } } });
    const sent = await eventually(async () => seen.find((r) => r.path.startsWith("/_matrix/federation/v1/send/")), "the Matrix-path transaction");
    expect(seen.filter((r) => r.path.startsWith(`${LM_PREFIX}/send/`))).toHaveLength(1);
    expect(sent.body["edus"]).toEqual([
      { edu_type: "m.direct_to_device", content: { sender: alice.userId, type: "m.room.encrypted", message_id: expect.any(String), messages: { [`@m:${MATRIX}`]: { MDEV: { ciphertext: "c1" } } } } },
    ]);
    // The X-Matrix signature covers the Matrix path and body, for this destination.
    const [cred] = parseXMatrixHeader(sent.authorization);
    expect(cred?.origin).toBe("hub.test");
    expect(cred?.destination).toBe(MATRIX);
    const keyDoc = (await (await hub.fetch("/_matrix/key/v2/server")).json()) as { verify_keys: Record<string, { key: string }> };
    const publicKey = decodeBase64(keyDoc.verify_keys[cred?.key ?? ""]?.key ?? "");
    const signed = canonicalJsonBytes(signedRequestObject("PUT", sent.path, "hub.test", MATRIX, sent.body));
    expect(await verifyEd25519(publicKey, decodeBase64(cred?.sig ?? ""), signed)).toBe(true);

    // Known to be Matrix-only now: the next transaction goes straight to /v1/send.
    await alice.request("PUT", "/sendToDevice/m.test/td2", { messages: { [`@m:${MATRIX}`]: { MDEV: { n: 2 } } } });
    await eventually(async () => (seen.filter((r) => r.path.startsWith("/_matrix/federation/v1/send/")).length === 2 ? true : undefined), "the second transaction");
    expect(seen.filter((r) => r.path.startsWith(`${LM_PREFIX}/send/`))).toHaveLength(1);
  });

  it("answers a Matrix server's device-list resync (GET /v1/user/devices/{userId}) with the user's published devices", async () => {
    const carol = await register(hub, "carol");
    const keys = await KeyDevice.create(carol.userId, "CDEV");
    const login = await hub.fetch("/_matrix/client/v3/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: carol.userId }, password: "correct horse battery", device_id: "CDEV" }),
    });
    const carolDev = new TestClient(hub, carol.userId, ((await login.json()) as { access_token: string }).access_token);
    const deviceKeys = await keys.deviceKeys();
    await carolDev.request("POST", "/keys/upload", { device_keys: deviceKeys });

    const path = `/_matrix/federation/v1/user/devices/${encodeURIComponent(carol.userId)}`;
    const res = await p1.federation(hub, "GET", path);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user_id: string; stream_id: number; devices: Array<{ device_id: string; keys: unknown }> };
    expect(body.user_id).toBe(carol.userId);
    expect(Number.isSafeInteger(body.stream_id)).toBe(true);
    expect(body.devices).toEqual([{ device_id: "CDEV", keys: deviceKeys }]);

    expect((await hub.fetch(path)).status).toBe(401);
    const other = await p1.federation(hub, "GET", `/_matrix/federation/v1/user/devices/${encodeURIComponent("@x:p1.test")}`);
    expect({ status: other.status, errcode: ((await other.json()) as { errcode: string }).errcode }).toEqual({ status: 404, errcode: "M_NOT_FOUND" });
  });

  it("tells local users sharing a room about Matrix-form m.device_list_update and m.signing_key_update EDUs", async () => {
    const dave = await register(hub, "dave");
    const erin = await register(p1, "erin");
    const { room_id: roomId } = await dave.createRoom({ preset: "public_chat" });
    await erin.join(roomId, "hub.test");
    await eventually(async () => ((await dave.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${encodeURIComponent(roomId)}/joined_members`)).joined[erin.userId] ? true : undefined), "erin joined on hub");
    const syncOf = (since?: string) => dave.request<{ next_batch: string; device_lists: { changed: string[] } }>("GET", `/sync?timeout=0${since ? `&since=${since}` : ""}`);
    let since = (await syncOf()).next_batch;

    const erinKeys = await (await KeyDevice.create(erin.userId, "EDEV")).deviceKeys();
    const masterKey = String((erinKeys["keys"] as Record<string, string>)["ed25519:EDEV"]);
    for (const edu of [
      { edu_type: "m.device_list_update", content: { user_id: erin.userId, device_id: "EDEV", stream_id: 5, prev_id: [], keys: erinKeys } },
      // A well-formed master key: malformed cross-signing keys in the EDU are ignored (client-cross-signing tests).
      { edu_type: "m.signing_key_update", content: { user_id: erin.userId, master_key: { user_id: erin.userId, usage: ["master"], keys: { [`ed25519:${masterKey}`]: masterKey } } } },
    ]) {
      const txn = `m-${edu.edu_type}`;
      const res = await p1.federation(hub, "PUT", `/_matrix/federation/v1/send/${txn}`, { origin: "p1.test", origin_server_ts: Date.now(), pdus: [], edus: [edu] });
      expect(res.status).toBe(200);
      since = await eventually(async () => {
        const s = await syncOf(since);
        return s.device_lists.changed.includes(erin.userId) ? s.next_batch : undefined;
      }, `erin in dave's device_lists.changed after ${edu.edu_type}`);
    }
  });
});
