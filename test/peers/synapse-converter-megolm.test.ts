// Real Megolm across the converter: carol's vodozemac OlmMachine on an LM participant server and
// sam's on Synapse, in an LM room on a Switchboard hub paired with a v12 room. Each client shares
// its room key with the real user behind the other's ghost (keys queried and claimed from that
// user's own server, Olm to-device sent there directly), the ciphertext crosses the converter byte
// for byte, and the receiving machine decrypts the original event rebuilt from the copy's verified
// provenance. The copy itself does not decrypt: its room is not the session's room, and with the
// session's room but the ghost as sender the machine refuses it as MismatchedSender under any
// TrustRequirement stricter than Untrusted. A new device on either side reaches the
// other side's client as news about the ghost (the hub's ghost device-list stream, which Synapse
// follows too). No server holds a room key.

import { DecryptionErrorCode, DecryptionSettings, DeviceId, DeviceLists, initAsync, RoomId, ShieldStateCode, TrustRequirement, UserId, type MegolmDecryptionError } from "@matrix-org/matrix-sdk-crypto-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, type JsonObject } from "../../shared/canonical-json.js";
import { ghostUserId } from "../../shared/converter/ghost-user.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { storedEvents } from "../federation/client.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { notaryKeys, originOfCopy, realMembers } from "./converter-client.js";
import { CryptoDevice, type SyncEvent, type SyncResult } from "./crypto-device.js";
import { synapse, startSwitchboards, User, type Homeserver } from "./peer.js";
import { createRoom, hasMembership, join } from "./rooms.js";
import { pairPublic } from "../federation/converter-setup.js";

const enc = encodeURIComponent;

const encryptedCopy = (roomId: string, ciphertext: string) => (r: SyncResult) =>
  r.body.rooms?.join?.[roomId]?.timeline?.events?.find((e) => e.type === "m.room.encrypted" && e.content["ciphertext"] === ciphertext);

type Outcome = { decrypted: true; shield: ShieldStateCode | undefined } | { decrypted: false; code: DecryptionErrorCode };

/** What decryptRoomEvent makes of `event` under `trust`: the shield of what it decrypted, or its error code. */
async function decryptOutcome(d: CryptoDevice, event: SyncEvent & { room_id: string }, trust: TrustRequirement): Promise<Outcome> {
  try {
    const out = await d.machine.decryptRoomEvent(JSON.stringify(event), new RoomId(event.room_id), new DecryptionSettings(trust));
    return { decrypted: true, shield: out.shieldState(false).code };
  } catch (e) {
    return { decrypted: false, code: (e as MegolmDecryptionError).code };
  }
}

const changed = (userId: string) => (r: SyncResult) => ((r.body.device_lists?.changed ?? []).includes(userId) ? true : undefined);

async function login(server: Homeserver, userId: string, deviceId: string): Promise<User> {
  const res = await server.fetch("/_matrix/client/v3/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password: "peer test password", device_id: deviceId }),
  });
  return new User(server, userId, deviceId, ((await res.json()) as { access_token: string }).access_token);
}

/** Decrypts `event`, syncing meanwhile: its room key travels apart from it and may come later. */
async function decryptEventually(d: CryptoDevice, event: SyncEvent & { room_id: string }, ms = 20_000): ReturnType<CryptoDevice["decrypt"]> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await d.decrypt(event.room_id, event);
    } catch (e) {
      if ((e as MegolmDecryptionError).code !== DecryptionErrorCode.MissingRoomKey || Date.now() > deadline) throw e;
      await d.sync(1_000);
    }
  }
}

const TRUST = [TrustRequirement.Untrusted, TrustRequirement.CrossSignedOrLegacy, TrustRequirement.CrossSigned] as const;

describe("Megolm across the converter: an LM participant's OlmMachine and a Synapse user's decrypt each other's messages", () => {
  let syn: Homeserver;
  let servers: TestServer[] = [];
  let hub: TestServer;
  let part: TestServer;
  let alice: User; // on the hub, pairs the room; no crypto device
  let carol: CryptoDevice; // on the LM participant
  let sam: CryptoDevice; // on Synapse
  let lm: string;
  let mx: string;
  const tag = Date.now().toString(36);

  beforeAll(async () => {
    await initAsync();
    syn = synapse();
    servers = await startSwitchboards(syn, [8, 9]);
    [hub, part] = servers as [TestServer, TestServer];
    alice = await User.register(hub, `alice-cmeg-${tag}`);
    carol = await CryptoDevice.create(part, `carol-cmeg-${tag}`, "CAROLPHONE");
    sam = await CryptoDevice.create(syn, `sam-cmeg-${tag}`, "SAMLAPTOP");
    for (const d of [carol, sam]) {
      await d.flush();
      await d.sync();
    }
  });

  afterAll(async () => {
    carol?.close();
    sam?.close();
    if (servers.length) await stopServers(servers);
  });

  it("pairs the hub's LM room with a v12 room; each client resolves the other side's ghost to the real user and learns that user's device from its own server", async () => {
    lm = await createRoom(alice, { room_version: LM_ROOM_VERSION_ID, preset: "public_chat", initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    await join(carol.user, lm, hub.name);
    mx = await pairPublic(hub, lm, alice.userId);
    await join(sam.user, mx, hub.name);
    // Synapse's clients see the paired room as encrypted as the LM room is.
    expect(await sam.user.request("GET", `/rooms/${enc(mx)}/state/m.room.encryption/`)).toEqual({ algorithm: "m.megolm.v1.aes-sha2" });
    await hasMembership(sam.user, mx, ghostUserId("lm", carol.userId, hub.name) as string, "join");
    await hasMembership(carol.user, lm, ghostUserId("mx", sam.userId, hub.name) as string, "join");

    expect(await realMembers(carol, lm)).toEqual(expect.arrayContaining([carol.userId, alice.userId, sam.userId]));
    expect(await realMembers(sam, mx)).toEqual(expect.arrayContaining([sam.userId, alice.userId, carol.userId]));
    for (const [me, them] of [
      [carol, sam],
      [sam, carol],
    ] as const) {
      await me.machine.updateTrackedUsers([new UserId(them.userId)]);
      await me.flush();
      const device = await me.machine.getDevice(new UserId(them.userId), new DeviceId(them.deviceId));
      expect(device?.curve25519Key?.toBase64(), `${me.userId} knows ${them.deviceId}`).toBe(them.machine.identityKeys.curve25519.toBase64());
      device?.free();
    }
  });

  it("drops the real user's device keys when they are listed under the ghost, so a hub cannot answer a ghost's keys/query with them", async () => {
    const ghost = ghostUserId("mx", sam.userId, hub.name) as string;
    const real = await carol.user.request<{ device_keys: Record<string, Record<string, unknown>> }>("POST", "/keys/query", { device_keys: { [sam.userId]: [] } });
    const samDevice = real.device_keys[sam.userId]?.[sam.deviceId];
    expect(samDevice, "sam's signed device object").toBeDefined();
    const query = carol.machine.queryKeysForUsers([new UserId(ghost)]);
    await carol.machine.markRequestAsSent(query.id as string, query.type, JSON.stringify({ device_keys: { [ghost]: { [sam.deviceId]: samDevice } }, failures: {} }));
    const devices = await carol.machine.getUserDevices(new UserId(ghost), 1);
    expect(devices.keys()).toEqual([]);
    devices.free();
    // What the ghost's own server says: it has no devices.
    const asked = await carol.user.request<{ device_keys: Record<string, Record<string, unknown>> }>("POST", "/keys/query", { device_keys: { [ghost]: [] } });
    expect(Object.keys(asked.device_keys[ghost] ?? {})).toEqual([]);
  });

  for (const direction of ["LM participant -> Synapse", "Synapse -> LM participant"] as const) {
    it(`carries a Megolm message ${direction} byte-identical on all three servers; the receiving OlmMachine decrypts the original rebuilt from the copy's provenance, not the ghost-sent copy`, async () => {
      const [from, to, fromRoom, toRoom] = direction === "LM participant -> Synapse" ? ([carol, sam, lm, mx] as const) : ([sam, carol, mx, lm] as const);
      await from.shareRoomKey(fromRoom, await realMembers(from, fromRoom));
      const plaintext = { msgtype: "m.text", body: `Megolm ${direction} ${Date.now()}` };
      const encrypted = await from.machine.encryptRoomEvent(new RoomId(fromRoom), "m.room.message", JSON.stringify(plaintext));
      expect(encrypted).not.toContain(plaintext.body);
      const sentContent = JSON.parse(encrypted) as JsonObject;
      const ciphertext = sentContent["ciphertext"] as string;
      const eventId = await from.sendRoomEvent(fromRoom, "m.room.encrypted", encrypted);

      const copy = await to.syncUntil(`the converted Megolm message in ${toRoom}`, encryptedCopy(toRoom, ciphertext));
      expect(copy.sender).toBe(ghostUserId(direction === "LM participant -> Synapse" ? "lm" : "mx", from.userId, hub.name));
      expect(copy.content[PROVENANCE_KEY]).toMatchObject({ room_id: fromRoom, event_id: eventId });

      // Byte-identical: the sender's server, the hub (both rooms) and the receiver's server.
      const onSender = await from.user.request<SyncEvent>("GET", `/rooms/${enc(fromRoom)}/event/${enc(eventId)}`);
      const onReceiver = await to.user.request<SyncEvent>("GET", `/rooms/${enc(toRoom)}/event/${enc(copy.event_id)}`);
      const onHub = [...(await storedEvents(hub, lm)), ...(await storedEvents(hub, mx))].filter((e) => e.pdu.content["ciphertext"] === ciphertext);
      expect(onHub).toHaveLength(2);
      for (const c of [onSender.content, onReceiver.content, ...onHub.map((e) => e.pdu.content)]) expect(c["ciphertext"]).toBe(ciphertext);
      expect(canonicalJson(onSender.content as JsonObject)).toBe(canonicalJson(sentContent));

      // The copy as it stands: the session belongs to the origin room, and its owner is not the ghost.
      const asCopy = await Promise.all(TRUST.map((t) => decryptOutcome(to, { ...copy, room_id: toRoom }, t)));
      const asOriginRoom = await Promise.all(TRUST.map((t) => decryptOutcome(to, { ...copy, room_id: fromRoom }, t)));
      expect(asCopy).toEqual(TRUST.map(() => ({ decrypted: false, code: DecryptionErrorCode.MissingRoomKey })));
      // Untrusted decrypts it under a MismatchedSender shield; any stricter requirement refuses it.
      expect(asOriginRoom).toEqual([
        { decrypted: true, shield: ShieldStateCode.MismatchedSender },
        { decrypted: false, code: DecryptionErrorCode.MismatchedSender },
        { decrypted: false, code: DecryptionErrorCode.MismatchedSender },
      ]);

      const origin = await originOfCopy(to, toRoom, copy, notaryKeys(to.user.server));
      expect(origin).toMatchObject({ event_id: eventId, room_id: fromRoom, sender: from.userId, type: "m.room.encrypted" });
      const decrypted = await to.decrypt(origin.room_id, origin);
      const asOrigin = await Promise.all(TRUST.map((t) => decryptOutcome(to, origin, t)));
      // The original fares as any event from an uncross-signed device: no MismatchedSender.
      expect(asOrigin).toEqual([
        { decrypted: true, shield: ShieldStateCode.UnsignedDevice },
        { decrypted: false, code: DecryptionErrorCode.UnsignedSenderDevice },
        { decrypted: false, code: DecryptionErrorCode.UnsignedSenderDevice },
      ]);
      expect(decrypted.type).toBe("m.room.message");
      expect(decrypted.content).toEqual(plaintext);
      expect(decrypted.senderDevice).toBe(from.deviceId);
    });
  }

  it("announces either user's new device to the other side as a change of their ghost's device list; the client re-queries the real user, and the new device decrypts the next message", async () => {
    for (const [owner, watcher, ownerServer, ownerRoom, watcherRoom, kind] of [
      [sam, carol, syn, mx, lm, "mx"],
      [carol, sam, part as Homeserver, lm, mx, "lm"],
    ] as const) {
      const ghost = ghostUserId(kind, owner.userId, hub.name) as string;
      // A client tracks every member of an encrypted room, ghosts included: that is how it hears their news.
      await watcher.user.request("POST", "/keys/query", { device_keys: { [ghost]: [] } });
      const second = await CryptoDevice.attach(await login(ownerServer, owner.userId, "SECOND"));
      await second.flush();
      await second.sync();
      await watcher.syncUntil(`${ghost} in ${watcher.userId}'s device_lists.changed`, changed(ghost));
      // A converter-aware client passes the ghost's news on as news about the real user.
      await watcher.machine.receiveSyncChanges("[]", new DeviceLists([new UserId(owner.userId)], []), new Map(Object.entries(watcher.lastCounts)), new Set());
      await watcher.flush();
      const device = await watcher.machine.getDevice(new UserId(owner.userId), new DeviceId("SECOND"));
      expect(device?.curve25519Key?.toBase64(), `${watcher.userId} knows ${owner.userId}'s SECOND`).toBe(second.machine.identityKeys.curve25519.toBase64());
      device?.free();

      await watcher.shareRoomKey(watcherRoom, await realMembers(watcher, watcherRoom));
      const plaintext = { msgtype: "m.text", body: `to ${owner.userId}'s second device ${Date.now()}` };
      const encrypted = await watcher.machine.encryptRoomEvent(new RoomId(watcherRoom), "m.room.message", JSON.stringify(plaintext));
      await watcher.sendRoomEvent(watcherRoom, "m.room.encrypted", encrypted);
      const copy = await second.syncUntil("the converted message on the second device", encryptedCopy(ownerRoom, (JSON.parse(encrypted) as { ciphertext: string }).ciphertext));
      const decrypted = await decryptEventually(second, await originOfCopy(second, ownerRoom, copy, notaryKeys(ownerServer)));
      expect(decrypted.content).toEqual(plaintext);
      expect(decrypted.senderDevice).toBe(watcher.deviceId);
      second.close();
    }
  });

  it("refuses to treat a copy as another user's message: a ghost that does not stand for the original sender fails the origin check", async () => {
    const events = (await sam.user.request<{ chunk: SyncEvent[] }>("GET", `/rooms/${enc(mx)}/messages?dir=b&limit=50`)).chunk;
    const fromCarol = events.find((e) => e.type === "m.room.encrypted" && e.sender === ghostUserId("lm", carol.userId, hub.name));
    expect(fromCarol).toBeDefined();
    const forged = { ...(fromCarol as SyncEvent), sender: ghostUserId("lm", alice.userId, hub.name) as string };
    await expect(originOfCopy(sam, mx, forged, notaryKeys(syn))).rejects.toThrow(/does not stand for/);
  });
});
