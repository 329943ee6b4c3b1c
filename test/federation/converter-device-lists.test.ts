// Device-list news across a converter: an LM room on hub dh.test with a participant server (dp.test),
// paired with a Matrix v12 room that a full-mesh server (dm.test) joins. The participant and the
// mesh server share no room with each other's users, only with their ghosts on the hub, so the hub
// announces a real user's device change as a change of the ghost's (empty) list, one step on the
// ghost's own stream; the client then queries the real user's keys from the real user's server.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ghostUserId } from "../../shared/converter/ghost-user.js";
import { DEVICE_LIST_EDU, deviceListUpdateEdu } from "../../shared/e2ee-edus.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { KeyDevice } from "../support/e2ee-keys.js";
import { eventually, TestClient } from "./client.js";
import { fed, sendTxn } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { pairPublic } from "./converter-setup.js";

const HUB = "dh.test";
const enc = encodeURIComponent;

type SyncBody = { next_batch: string; device_lists?: { changed?: string[] } };
type QueryBody = { device_keys: Record<string, Record<string, unknown>>; failures: Record<string, unknown> };

async function register(server: TestServer, name: string): Promise<TestClient> {
  const res = await server.fetch("/_matrix/client/v3/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: name, password: "pw", device_id: "DEV1", auth: { type: "m.login.dummy" } }),
  });
  const body = (await res.json()) as { user_id: string; access_token: string };
  expect(res.status).toBe(200);
  return new TestClient(server, body.user_id, body.access_token);
}

const position = async (c: TestClient) => (await c.request<SyncBody>("GET", "/sync?timeout=0")).next_batch;

/** Syncs `c` from `since` until `userId` is in device_lists.changed; the batch that had it. */
function changedSeen(c: TestClient, userId: string, since: string): Promise<string> {
  let from = since;
  return eventually(async () => {
    const s = await c.request<SyncBody>("GET", `/sync?timeout=1000&since=${enc(from)}`);
    from = s.next_batch;
    return (s.device_lists?.changed ?? []).includes(userId) ? s.next_batch : undefined;
  }, `${userId} in ${c.userId}'s device_lists.changed`);
}

describe("device-list news across a converter", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let part: TestServer;
  let mesh: TestServer;
  let alice: TestClient;
  let carol: TestClient;
  let dave: TestClient;
  let lm: string;
  let mx: string;
  const carolGhost = () => ghostUserId("lm", carol.userId, HUB) as string;
  const daveGhost = () => ghostUserId("mx", dave.userId, HUB) as string;

  beforeAll(async () => {
    servers = await startServers([HUB, "dp.test", "dm.test"]);
    [hub, part, mesh] = servers as [TestServer, TestServer, TestServer];
    [alice, carol, dave] = await Promise.all([register(hub, "alice"), register(part, "carol"), register(mesh, "dave")]);
    lm = (await alice.createRoom({ room_version: LM_ROOM_VERSION_ID, preset: "public_chat" })).room_id;
    await carol.join(lm, HUB);
    mx = await pairPublic(hub, lm, alice.userId);
    await dave.join(mx, HUB);
    await eventually(async () => (daveGhost() in (await carol.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(lm)}/joined_members`)).joined) || undefined, "dave's ghost in the LM room on dp.test");
    await eventually(async () => (carolGhost() in (await dave.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(mx)}/joined_members`)).joined) || undefined, "carol's ghost in the Matrix room on dm.test");
  });
  afterAll(() => stopServers(servers));

  it("tells the LM participant's user that the Matrix-side user's devices changed, as news about his ghost; his keys then come from his own server", async () => {
    const since = await position(carol);
    const daveDevice = await KeyDevice.create(dave.userId, "DEV1");
    const keys = await daveDevice.deviceKeys();
    await dave.request("POST", "/keys/upload", { device_keys: keys });
    await changedSeen(carol, daveGhost(), since);
    const real = await carol.request<QueryBody>("POST", "/keys/query", { device_keys: { [dave.userId]: [] } });
    expect(real.device_keys[dave.userId]?.["DEV1"]).toEqual(keys);
    // The ghost itself has no devices, as its own server says.
    const ghost = await carol.request<QueryBody>("POST", "/keys/query", { device_keys: { [daveGhost()]: [] } });
    expect(ghost.device_keys[daveGhost()] ?? {}).toEqual({});
    // Its list, over federation: empty, at the stream position its announcements have reached.
    const devices = await fed<{ devices: unknown[]; stream_id: number }>(part, hub, "GET", `/_matrix/federation/v1/user/devices/${enc(daveGhost())}`);
    expect(devices).toMatchObject({ status: 200, body: { user_id: daveGhost(), devices: [] } });
    expect(devices.body.stream_id).toBeGreaterThanOrEqual(1);
    const again = await fed<{ stream_id: number }>(part, hub, "GET", `/_matrix/federation/v1/user/devices/${enc(daveGhost())}`);
    expect(again.body.stream_id).toBe(devices.body.stream_id);
  });

  it("tells the Matrix-side user that the LM participant's devices changed, as news about her ghost", async () => {
    const since = await position(dave);
    const carolDevice = await KeyDevice.create(carol.userId, "DEV1");
    const keys = await carolDevice.deviceKeys();
    await carol.request("POST", "/keys/upload", { device_keys: keys });
    await changedSeen(dave, carolGhost(), since);
    const real = await dave.request<QueryBody>("POST", "/keys/query", { device_keys: { [carol.userId]: [] } });
    expect(real.device_keys[carol.userId]?.["DEV1"]).toEqual(keys);
  });

  it("takes news naming no device as 'query again', and ignores news a server sends about another server's user", async () => {
    const carolSince = await position(carol);
    const daveSince = await position(dave);
    // From dp.test: forged news about dave (of dm.test), then true news about carol naming no device.
    const forged = deviceListUpdateEdu(dave.userId, [], []);
    const empty = deviceListUpdateEdu(carol.userId, [], []);
    expect(empty["type"]).toBe(DEVICE_LIST_EDU);
    expect((await sendTxn(part, hub, [], { edus: [forged, empty] })).status).toBe(200);
    const after = await changedSeen(dave, carolGhost(), daveSince);
    expect(after).toBeTruthy();
    // Same transaction, same path: had the forged news been taken, carol would hear of dave's ghost.
    const s = await carol.request<SyncBody>("GET", `/sync?timeout=2000&since=${enc(carolSince)}`);
    expect(s.device_lists?.changed ?? []).not.toContain(daveGhost());
    expect(s.device_lists?.changed ?? []).not.toContain(dave.userId);
  });
});
