// A Megolm-encrypted v12 room shared by Switchboard and a real Synapse: alice's OlmMachine on Synapse
// and bob's on Switchboard track each other through device-list updates (m.device_list_update EDUs
// both ways, each server resyncing through GET /v1/user/devices), share room keys over Olm and
// decrypt each other's m.room.encrypted messages; both servers hold the ciphertext exactly as sent.

import { DeviceId, initAsync, RoomId, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, type JsonObject } from "../../shared/canonical-json.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { CryptoDevice, type SyncResult } from "./crypto-device.js";
import { synapse, startSwitchboard, User, type Homeserver } from "./peer.js";
import { createRoom, hasMembership, join, timeline } from "./rooms.js";

const MEGOLM = "m.megolm.v1.aes-sha2";

const changed = (userId: string) => (r: SyncResult) => ((r.body.device_lists?.changed ?? []).includes(userId) ? true : undefined);
const timelineEvent = (roomId: string, eventId: string) => (r: SyncResult) => r.body.rooms?.join?.[roomId]?.timeline?.events?.find((e) => e.event_id === eventId);

describe("Megolm in a v12 room across Switchboard and Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: CryptoDevice; // on Synapse
  let bob: CryptoDevice; // on Switchboard
  let roomId: string;
  const tag = Date.now().toString(36);

  beforeAll(async () => {
    await initAsync();
    syn = synapse();
    sb = await startSwitchboard(syn, 3);
    alice = await CryptoDevice.create(syn, `alice-megolm-${tag}`, "ALICEPHONE");
    bob = await CryptoDevice.create(sb, `bob-megolm-${tag}`, "BOBLAPTOP");
    for (const d of [alice, bob]) {
      await d.flush();
      await d.sync();
    }
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    if (sb) await stopServers([sb]);
  });

  it("puts alice (Synapse) and bob (Switchboard) in an encrypted v12 room hosted on Switchboard; each server names the other user in device_lists", async () => {
    roomId = await createRoom(bob.user, {
      room_version: "12",
      preset: "public_chat",
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
    });
    await join(alice.user, roomId, sb.name);
    await hasMembership(bob.user, roomId, alice.userId, "join");
    await alice.syncUntil("bob in alice's device_lists.changed", changed(bob.userId));
    await bob.syncUntil("alice in bob's device_lists.changed", changed(alice.userId));
    for (const [me, them] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      // A client tracks the devices of the members of its encrypted rooms.
      await me.machine.updateTrackedUsers([new UserId(them.userId)]);
      await me.flush();
      const device = await me.machine.getDevice(new UserId(them.userId), new DeviceId(them.deviceId));
      expect(device?.curve25519Key?.toBase64(), `${me.userId} knows ${them.deviceId}`).toBe(them.machine.identityKeys.curve25519.toBase64());
      device?.free();
    }
  });

  it("carries a new device's keys as m.device_list_update both ways: each side's machine learns the other's second device", async () => {
    for (const [owner, watcher, server] of [
      [bob, alice, sb as Homeserver],
      [alice, bob, syn],
    ] as const) {
      const login = await server.fetch("/_matrix/client/v3/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: owner.userId }, password: "peer test password", device_id: "SECOND" }),
      });
      const token = ((await login.json()) as { access_token: string }).access_token;
      const second = await CryptoDevice.attach(new User(server, owner.userId, "SECOND", token));
      await second.flush();
      await watcher.syncUntil(`${owner.userId}'s second device in device_lists.changed`, changed(owner.userId));
      await watcher.flush();
      const device = await watcher.machine.getDevice(new UserId(owner.userId), new DeviceId("SECOND"));
      expect(device?.curve25519Key?.toBase64(), `${watcher.userId} knows ${owner.userId}'s SECOND`).toBe(second.machine.identityKeys.curve25519.toBase64());
      device?.free();
      second.close();
    }
  });

  it("sends a Megolm message from Synapse that Switchboard's user decrypts, and one back; both servers store the ciphertext as sent", async () => {
    for (const [from, to] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      await from.shareRoomKey(roomId, [alice.userId, bob.userId]);
      const plaintext = { msgtype: "m.text", body: `Megolm from ${from.userId} ${Date.now()}` };
      const ciphertext = await from.machine.encryptRoomEvent(new RoomId(roomId), "m.room.message", JSON.stringify(plaintext));
      expect(ciphertext).not.toContain(plaintext.body);
      const eventId = await from.sendRoomEvent(roomId, "m.room.encrypted", ciphertext);
      const event = await to.syncUntil(`the Megolm message from ${from.userId}`, timelineEvent(roomId, eventId));
      const decrypted = await to.decrypt(roomId, event);
      expect(decrypted.type).toBe("m.room.message");
      expect(decrypted.content).toEqual(plaintext);
      expect(decrypted.senderDevice).toBe(from.deviceId);
      for (const u of [alice.user, bob.user]) {
        const stored = (await timeline(u, roomId)).find((e) => e.event_id === eventId);
        expect(stored?.type, `${u.server.name} shows the event`).toBe("m.room.encrypted");
        expect(canonicalJson(stored?.content as JsonObject)).toBe(canonicalJson(JSON.parse(ciphertext) as JsonObject));
      }
    }
  });
});
