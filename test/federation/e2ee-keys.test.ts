// Key distribution between two real servers: remote key queries and claims (one-time keys and MLS
// KeyPackages), the draft's device endpoint, to-device messages as m.direct_to_device EDUs, and device
// list updates as m.device_list_update EDUs reaching the other server's /sync.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { validateDeviceKeys } from "../../shared/device-keys.js";
import { inspectKeyPackage } from "../../shared/mls-key-package.js";
import { KeyDevice, MLS_KEY_PACKAGE_ALGORITHM } from "../support/e2ee-keys.js";
import { eventually, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const KP = MLS_KEY_PACKAGE_ALGORITHM;
const LM = LM_PREFIX;

interface SyncBody {
  next_batch: string;
  to_device: { events: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
  device_lists: { changed: string[]; left: string[] };
}

/** A client with its device's keys (registered clients get device ID DEV1 here). */
class KeyClient extends TestClient {
  keys!: KeyDevice;
  static async make(server: TestServer, name: string): Promise<KeyClient> {
    const res = await server.fetch("/_matrix/client/v3/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: name, password: "pw", device_id: "DEV1", auth: { type: "m.login.dummy" } }),
    });
    const body = (await res.json()) as { user_id: string; access_token: string };
    expect(res.status).toBe(200);
    const c = new KeyClient(server, body.user_id, body.access_token);
    c.keys = await KeyDevice.create(body.user_id, "DEV1");
    return c;
  }
  sync(since?: string, timeout = 0): Promise<SyncBody> {
    return this.request<SyncBody>("GET", `/sync?timeout=${timeout}${since ? `&since=${since}` : ""}`);
  }
}

describe("key distribution across servers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: KeyClient;
  let bob: KeyClient;
  let aliceKeys: JsonObject;
  let lastResort: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    [hub, p1] = servers as [TestServer, TestServer];
    alice = await KeyClient.make(hub, "alice");
    bob = await KeyClient.make(p1, "bob");
    aliceKeys = await alice.keys.deviceKeys();
    lastResort = await alice.keys.keyPackage();
    const oneTime: Record<string, unknown> = { ...(await alice.keys.keyPackages(2)) };
    for (let i = 0; i < 2; i++) oneTime[`signed_curve25519:s${i}`] = await alice.keys.signedCurve25519();
    await alice.request("POST", "/keys/upload", {
      device_keys: aliceKeys,
      one_time_keys: oneTime,
      fallback_keys: { [`${KP}:last`]: lastResort },
    });
  });
  afterAll(() => stopServers(servers));

  it("answers a remote /keys/query with the verified device credential", async () => {
    const res = await bob.request<{ device_keys: Record<string, Record<string, JsonObject>>; failures: Record<string, unknown> }>("POST", "/keys/query", {
      device_keys: { [alice.userId]: [] },
    });
    expect(res.failures).toEqual({});
    const device = res.device_keys[alice.userId]?.["DEV1"];
    expect(device).toEqual(aliceKeys);
    await expect(validateDeviceKeys(device, { userId: alice.userId, deviceId: "DEV1" })).resolves.toBeDefined();
  });

  it("serves the draft's device endpoint to authenticated servers, 404 for anything not ours", async () => {
    const ok = await p1.federation(hub, "GET", `${LM}/user/${encodeURIComponent(alice.userId)}/device/DEV1`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(aliceKeys);
    // The draft's implementation note says PUT on the unstable path: served alike.
    const put = await p1.federation(hub, "PUT", `${LM}/user/${encodeURIComponent(alice.userId)}/device/DEV1`, {});
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual(aliceKeys);
    for (const path of [`${LM}/user/${encodeURIComponent(alice.userId)}/device/NOPE`, `${LM}/user/${encodeURIComponent(bob.userId)}/device/DEV1`, `${LM}/user/${encodeURIComponent("@ghost:hub.test")}/device/DEV1`]) {
      const res = await p1.federation(hub, "GET", path);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { errcode: string }).errcode).toBe("M_NOT_FOUND");
    }
    const unsigned = await p1.fetch(`${LM}/user/${encodeURIComponent(alice.userId)}/device/DEV1`);
    expect(unsigned.status).toBe(401);
  });

  it("answers federation user/keys/query for its own users only", async () => {
    const res = await p1.federation(hub, "POST", "/_matrix/federation/v1/user/keys/query", { device_keys: { [alice.userId]: ["DEV1"], [bob.userId]: [] } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { device_keys: Record<string, unknown> };
    expect(Object.keys(body.device_keys)).toEqual([alice.userId]);
  });

  it("claims a remote user's one-time keys and KeyPackages, each once, then the last-resort KeyPackage", async () => {
    const ask = (alg: string) => bob.request<{ one_time_keys: Record<string, Record<string, Record<string, unknown>>>; failures: Record<string, unknown> }>("POST", "/keys/claim", {
      one_time_keys: { [alice.userId]: { DEV1: alg } },
    });
    const olm = await Promise.all([ask("signed_curve25519"), ask("signed_curve25519"), ask("signed_curve25519")]);
    const olmIds = olm.map((r) => Object.keys(r.one_time_keys[alice.userId]?.["DEV1"] ?? {})[0]).filter((k) => k !== undefined);
    expect(olmIds.sort()).toEqual(["signed_curve25519:s0", "signed_curve25519:s1"]);

    const packages: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await ask(KP);
      expect(r.failures).toEqual({});
      const [id, kp] = Object.entries(r.one_time_keys[alice.userId]?.["DEV1"] ?? {})[0] ?? [];
      expect(id).toMatch(new RegExp(`^${KP.replace(/\./g, "\\.")}:`));
      const info = await inspectKeyPackage(kp as string, Date.now());
      expect(info.identity).toMatchObject({ userId: alice.userId, deviceId: "DEV1" });
      packages.push(id as string);
    }
    expect(packages.slice(0, 2).sort()).toEqual([`${KP}:kp0`, `${KP}:kp1`]);
    expect(packages.slice(2)).toEqual([`${KP}:last`, `${KP}:last`]);
  });

  it("answers federation user/keys/claim only for its own users", async () => {
    const res = await p1.federation(hub, "POST", "/_matrix/federation/v1/user/keys/claim", { one_time_keys: { [bob.userId]: { DEV1: KP } } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ one_time_keys: {} });
  });

  it("records an unreachable server under failures", async () => {
    await (servers[2] as TestServer).stop();
    const res = await bob.request<{ failures: Record<string, unknown>; device_keys: Record<string, unknown> }>("POST", "/keys/query", {
      device_keys: { "@nobody:p2.test": [], [alice.userId]: ["DEV1"] },
      timeout: 1000,
    });
    expect(Object.keys(res.failures)).toEqual(["p2.test"]);
    expect(Object.keys(res.device_keys[alice.userId] ?? {})).toEqual(["DEV1"]);
  });

  it("carries to-device messages to the other server as m.direct_to_device EDUs", async () => {
    const since = (await bob.sync()).next_batch;
    // An Olm message: MLS Welcomes wait for their commit (see mls.test.ts), which "$x" never becomes.
    await alice.request("PUT", "/sendToDevice/m.room.encrypted/welcome1", {
      messages: { [bob.userId]: { DEV1: { algorithm: "m.olm.v1.curve25519-aes-sha2", ciphertext: "abc", commit_event_id: "$x" } } },
    });
    const got = await eventually(async () => {
      const s = await bob.sync(since, 2000);
      return s.to_device.events.length > 0 ? s : undefined;
    }, "the to-device message on p1");
    expect(got.to_device.events).toEqual([
      { sender: alice.userId, type: "m.room.encrypted", content: { algorithm: "m.olm.v1.curve25519-aes-sha2", ciphertext: "abc", commit_event_id: "$x" } },
    ]);
    // Acknowledged by the next sync; a retry of the same transaction delivers nothing new.
    await bob.sync(got.next_batch);
    await alice.request("PUT", "/sendToDevice/m.room.encrypted/welcome1", { messages: { [bob.userId]: { DEV1: { ciphertext: "abc" } } } });
    await alice.request("PUT", "/sendToDevice/m.test/after", { messages: { [bob.userId]: { "*": { marker: true } } } });
    const next = await eventually(async () => {
      const s = await bob.sync(got.next_batch, 2000);
      return s.to_device.events.length > 0 ? s : undefined;
    }, "the marker message");
    expect(next.to_device.events.map((e) => e.type)).toEqual(["m.test"]);
  });

  it("refuses to-device EDUs whose sender is not a user of the sending server", async () => {
    const since = (await bob.sync()).next_batch;
    const edu = (sender: string, n: number) => ({ type: "m.direct_to_device", sender, content: { target: bob.userId, target_device: "DEV1", message_type: "m.test", message: { n } } });
    const res = await hub.federation(p1, "PUT", `${LM}/send/forged1`, { origin: "hub.test", origin_server_ts: Date.now(), pdus: [], edus: [edu("@mallory:p1.test", 1), edu(alice.userId, 2)] });
    expect(res.status).toBe(200);
    const s = await bob.sync(since);
    expect(s.to_device.events.map((e) => e.content)).toEqual([{ n: 2 }]);
  });

  it("sends device list updates to servers sharing a room, which tell their users in /sync", async () => {
    const { room_id: roomId } = await alice.createRoom({ preset: "public_chat" });
    await bob.join(roomId, "hub.test");
    const since = (await bob.sync()).next_batch;
    // Alice's new device appears: its keys reach p1 as an m.device_list_update EDU.
    const aliceSecond = await KeyDevice.create(alice.userId, "DEV2");
    const login = await hub.fetch("/_matrix/client/v3/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password: "pw", device_id: "DEV2" }),
    });
    const alice2 = new TestClient(hub, alice.userId, ((await login.json()) as { access_token: string }).access_token);
    await alice2.request("POST", "/keys/upload", { device_keys: await aliceSecond.deviceKeys({ mls: true }) });
    const changed = await eventually(async () => {
      const s = await bob.sync(since, 2000);
      return s.device_lists.changed.includes(alice.userId) ? s : undefined;
    }, "alice in bob's device_lists.changed");
    expect(changed.device_lists.changed).toContain(alice.userId);
    // Bob's client then asks for the new device over federation.
    const q = await bob.request<{ device_keys: Record<string, Record<string, unknown>> }>("POST", "/keys/query", { device_keys: { [alice.userId]: [] } });
    expect(Object.keys(q.device_keys[alice.userId] ?? {}).sort()).toEqual(["DEV1", "DEV2"]);
    // Logging the device out is news too.
    await alice2.request("POST", "/logout", {});
    await eventually(async () => {
      const s = await bob.sync(changed.next_batch, 2000);
      return s.device_lists.changed.includes(alice.userId) ? s : undefined;
    }, "alice's removed device in bob's device_lists.changed");
  });
});
