// MIMI keyMaterial between real servers: hub.test hosts a room with two MIMI followers, f1.test (bob)
// and f2.test (erin). bob's claims go through f1 to the hub; a claim for erin is relayed by the hub
// to f2, which hands out one of erin's single-use KeyPackages. Claims need the target's consent as
// this server reads it (invited or joined to the room) and a credential that is the signing client's.
// f2 runs apart from the others so it can present its own stand-in certificate fingerprint.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { encodeDeviceIdentity } from "../../shared/mls-identity.js";
import { decodeKeyPackageField } from "../../shared/mimi/index.js";
import { decodeDeviceIdentity } from "../../shared/mls-identity.js";
import { freePort, startServers, stopServers, type TestServer } from "./harness.js";
import { addParticipant, installHub, keyMaterialOverMimi } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM } from "./mls-member.js";

const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };
const FP = "6".repeat(64); // hub.test and f1.test (one startServers call shares its bindings)
const FP2 = "7".repeat(64); // f2.test
let PORTS: number[] = [];
const url = (port: number) => `http://127.0.0.1:${port}`;

async function peer(server: TestServer, fingerprint: string, domain: string): Promise<void> {
  const res = await server.fetch(`/_switchboard/admin/v1/mimi/peers/${fingerprint}`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ domain }) });
  expect(res.status).toBe(200);
}

describe("MIMI keyMaterial through the hub", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let f1: TestServer;
  let f2: TestServer;
  let alice: MlsMember;
  let bob: MlsMember;
  let erin: MlsMember;
  let dave: MlsMember;
  let roomId: string;

  beforeAll(async () => {
    while (new Set(PORTS).size !== 3) PORTS = [await freePort(), await freePort(), await freePort()]; // fixed ports collide with parallel runs
    const pair = await startServers(["hub.test", "f1.test"], { ports: PORTS.slice(0, 2), extraHosts: { "f2.test": url(PORTS[2] as number) }, bindings: { MIMI_LOCAL_STAND_IN_FINGERPRINT: FP } });
    servers = [...pair];
    const single = await startServers(["f2.test"], { ports: PORTS.slice(2), extraHosts: { "hub.test": url(PORTS[0] as number), "f1.test": url(PORTS[1] as number) }, bindings: { MIMI_LOCAL_STAND_IN_FINGERPRINT: FP2 } });
    servers.push(...single);
    [hub, f1, f2] = servers as [TestServer, TestServer, TestServer];
    await peer(hub, FP, "f1.test");
    await peer(hub, FP2, "f2.test");
    await peer(f1, FP, "hub.test");
    await peer(f2, FP, "hub.test");
    alice = await MlsMember.register(hub, "alice", "ALICE");
    dave = await MlsMember.register(hub, "dave", "DAVE");
    bob = await MlsMember.register(f1, "bob", "BOB");
    erin = await MlsMember.register(f2, "erin", "ERIN");
    for (const m of [alice, dave, bob, erin]) await m.publish(2);
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    await alice.mls.createGroup(roomId);
    await installHub(alice, roomId); // a room takes MIMI participants only then
    await addParticipant(alice, roomId, bob.userId);
    await addParticipant(alice, roomId, erin.userId);
  });
  afterAll(() => stopServers(servers));

  it("relays a claim for a user of another follower to that provider, which hands out one single-use KeyPackage of hers", async () => {
    const answer = await keyMaterialOverMimi(bob, roomId, erin.userId);
    expect(answer).toMatchObject({ status: 200, userStatus: "success" });
    expect(answer.packages).toHaveLength(1);
    const kp = decodeKeyPackageField(decodeBase64(answer.packages[0] as string));
    if (!kp.ok) throw new Error("not a KeyPackage");
    const cred = kp.value.value.leafNode.credential;
    expect(cred.credentialType === "basic" && decodeDeviceIdentity(cred.identity).ok && decodeDeviceIdentity(cred.identity)).toMatchObject({ identity: { userId: erin.userId, deviceId: "ERIN" } });
    const left = await erin.client.request<{ one_time_key_counts: Record<string, number> }>("POST", "/keys/upload", {});
    expect(left.one_time_key_counts[KEY_PACKAGE_ALGORITHM]).toBe(1);
  });

  it("answers noConsentForThisRoom for a target neither invited nor joined, noConsent without a room, and serves once the target is invited", async () => {
    expect(await keyMaterialOverMimi(bob, roomId, dave.userId)).toMatchObject({ status: 200, userStatus: "noConsentForThisRoom", packages: [] });
    expect(await keyMaterialOverMimi(bob, "", dave.userId, (t) => t, roomId)).toMatchObject({ status: 200, userStatus: "noConsent", packages: [] });
    await alice.client.invite(roomId, dave.userId);
    const answer = await keyMaterialOverMimi(bob, roomId, dave.userId);
    expect(answer).toMatchObject({ status: 200, userStatus: "success" });
    expect(answer.packages).toHaveLength(1);
  });

  it("refuses a request whose credential is not the signing client's, or names another user than requestingUser", async () => {
    const otherKey = new Uint8Array(32).fill(9);
    const asAlice = await keyMaterialOverMimi(bob, roomId, dave.userId, (t) => ({ ...t, requesterCredential: { credentialType: "basic", identity: encodeDeviceIdentity({ userId: alice.userId, deviceId: "BOB", signatureKey: bob.mls.signatureKey }) } }));
    const otherClient = await keyMaterialOverMimi(bob, roomId, dave.userId, (t) => ({ ...t, requesterCredential: { credentialType: "basic", identity: encodeDeviceIdentity({ userId: bob.userId, deviceId: "BOB", signatureKey: otherKey }) } }));
    for (const refused of [asAlice, otherClient]) expect(refused).toMatchObject({ status: 502, error: expect.stringMatching(/answered 403/) });
    const left = await dave.client.request<{ one_time_key_counts: Record<string, number> }>("POST", "/keys/upload", {});
    expect(left.one_time_key_counts[KEY_PACKAGE_ALGORITHM]).toBe(1); // only the consented claim above took one
  });

  it("answers a claim for a user outside the room, on a provider that does not follow it, without relaying it anywhere", async () => {
    // Consent is checked first, so the hub reveals nothing about the provider or the user.
    expect(await keyMaterialOverMimi(bob, roomId, "@zed:elsewhere.test")).toMatchObject({ status: 200, userStatus: "noConsentForThisRoom", packages: [] });
  });
});
