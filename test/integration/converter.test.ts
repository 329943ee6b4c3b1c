// The protocol converter inside one hub (durable-objects/room/converter*.ts): an LM room paired
// through the client API with a Matrix v12 room the hub's service user creates; events cross both
// ways with their content and a provenance block an independent check verifies; a second copy is
// answered as a duplicate; a copy is never converted back; clients cannot forge provenance.

import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { checkProvenance } from "../../shared/converter/provenance-check.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { eventIdOf } from "../../shared/hashes.js";
import { LM_ROOM_VERSION_ID, LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { C, call, enc, register } from "./client-helpers.js";
import { events, PAIR, room, waitFor } from "./converter-helpers.js";

const HUB = "hub.test";
const SERVICE = `@_switchboard:${HUB}`;
const CIPHERTEXT = "AwgAEmVuY3J5cHRlZCBieXRlcyB0aGF0IG11c3QgY3Jvc3MgdW5jaGFuZ2Vk";

async function hubKeys(): Promise<KeyLookup> {
  const doc = (await call("GET", "/_matrix/key/v2/server")).json as { verify_keys: Record<string, { key: string }> };
  return async (server, keyId) => (server === HUB && doc.verify_keys[keyId] ? decodeBase64(doc.verify_keys[keyId].key) : undefined);
}

async function pairedRooms(stem: string) {
  const alice = await register(`${stem}a`);
  const lm = (await call("POST", `${C}/createRoom`, alice.token, { room_version: LM_ROOM_VERSION_ID, preset: "public_chat" })).json["room_id"] as string;
  const paired = await call("POST", PAIR(lm), alice.token, {});
  expect(paired.status).toBe(200);
  return { alice, lm, mx: paired.json["peer_room_id"] as string };
}

describe("pairing an LM room with a Matrix v12 room", () => {
  it("creates the v12 room as the service user and records the pairing in both rooms", async () => {
    const { alice, lm, mx } = await pairedRooms("pair1");
    expect(mx.startsWith("!") && !mx.includes(":")).toBe(true);
    const info = await room(mx).info();
    expect(info?.version).toBe("12");
    const mxPair = await room(mx).stateEvent("io.switchboard.pair", lm);
    expect(JSON.parse(mxPair!.json)).toMatchObject({ sender: SERVICE, content: { peer_room_version: LM_ROOM_VERSION_ID, converters: [HUB] } });
    const lmPair = await room(lm).stateEvent("io.switchboard.pair", mx);
    expect(JSON.parse(lmPair!.json)).toMatchObject({ sender: alice.userId, content: { peer_room_version: "12", converters: [HUB] } });
    // Alice, already in the LM room, is in the Matrix room too (she is local, so as herself).
    expect(await room(mx).membership(alice.userId)).toBe("join");
    // And she moderates it: the member who pairs gets power 100 there (the service user, a v12 creator, is above that).
    expect(JSON.parse((await room(mx).stateEvent("m.room.power_levels", ""))!.json).content.users).toEqual({ [alice.userId]: 100 });
    const again = await call("POST", PAIR(lm), alice.token, {});
    expect([again.status, again.json["errcode"]]).toEqual([400, "M_BAD_STATE"]);
  });

  it("refuses a member without the power to pair, and creates nothing", async () => {
    const alice = await register("pair2a");
    const bob = await register("pair2b");
    const lm = (await call("POST", `${C}/createRoom`, alice.token, { room_version: LM_ROOM_VERSION_ID, preset: "public_chat" })).json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(lm)}`, bob.token, {})).status).toBe(200);
    const before = (await room(lm).info())?.lastPos;
    const res = await call("POST", PAIR(lm), bob.token, {});
    expect([res.status, res.json["errcode"]]).toEqual([403, "M_FORBIDDEN"]);
    expect((await room(lm).info())?.lastPos).toBe(before);
  });

  it("refuses a malformed pair event sent as plain state, and stores nothing", async () => {
    const { alice, lm, mx } = await pairedRooms("pair4");
    const before = (await room(lm).info())?.lastPos;
    for (const content of [{ peer_room_version: "99", converters: [HUB] }, { peer_room_version: "12", converters: [] }, { peer_room_version: "12" }]) {
      const res = await call("PUT", `${C}/rooms/${enc(lm)}/state/io.switchboard.pair/${enc(mx)}`, alice.token, content);
      expect([res.status, res.json["errcode"]]).toEqual([400, "M_BAD_JSON"]);
    }
    const notRoom = await call("PUT", `${C}/rooms/${enc(lm)}/state/io.switchboard.pair/nope`, alice.token, { peer_room_version: "12", converters: [HUB] });
    expect(notRoom.status).toBe(400);
    expect((await room(lm).info())?.lastPos).toBe(before);
  });

  it("refuses to pair a Matrix room", async () => {
    const alice = await register("pair3a");
    const v12 = (await call("POST", `${C}/createRoom`, alice.token, { room_version: "12" })).json["room_id"] as string;
    const res = await call("POST", PAIR(v12), alice.token, {});
    expect([res.status, res.json["errcode"]]).toEqual([400, "M_BAD_STATE"]);
  });
});

describe("converting between the paired rooms", () => {
  it("carries an LM message into the Matrix room once, with provenance an independent check verifies", async () => {
    const { alice, lm, mx } = await pairedRooms("conv1");
    const sent = await call("PUT", `${C}/rooms/${enc(lm)}/send/m.room.encrypted/t1`, alice.token, { algorithm: "m.megolm.v1.aes-sha2", ciphertext: CIPHERTEXT, session_id: "s", sender_key: "k", device_id: "D" });
    expect(sent.status).toBe(200);
    const lmId = sent.json["event_id"] as string;
    const copy = await waitFor(mx, (e) => e.pdu.type === "m.room.encrypted");
    expect(copy.pdu.sender).toBe(alice.userId);
    expect(copy.pdu.content["ciphertext"]).toBe(CIPHERTEXT);
    expect(copy.pdu.content[PROVENANCE_KEY]).toMatchObject({ room_id: lm, event_id: lmId });
    const check = await checkProvenance(copy.pdu, await hubKeys());
    expect(check.ok).toBe(true);
    if (check.ok) expect(await eventIdOf(check.original, LM_ROOM_VERSION)).toBe(lmId);
    // Not converted back: the LM room holds the one original.
    await new Promise((r) => setTimeout(r, 200));
    expect((await events(lm)).filter((e) => e.pdu.type === "m.room.encrypted").map((e) => e.eventId)).toEqual([lmId]);
    expect((await events(mx)).filter((e) => e.pdu.type === "m.room.encrypted")).toHaveLength(1);
  });

  it("carries a Matrix message into the LM room", async () => {
    const { alice, lm, mx } = await pairedRooms("conv2");
    const bob = await register("conv2b");
    expect((await call("POST", `${C}/join/${enc(mx)}`, bob.token, {})).status).toBe(403); // private: invite only
    const sent = await call("PUT", `${C}/rooms/${enc(mx)}/send/m.room.message/m1`, alice.token, { msgtype: "m.text", body: "from Matrix" });
    expect(sent.status).toBe(200);
    const copy = await waitFor(lm, (e) => e.pdu.type === "m.room.message" && e.pdu.content["body"] === "from Matrix");
    expect(copy.pdu.content[PROVENANCE_KEY]).toMatchObject({ room_id: mx, event_id: sent.json["event_id"], room_version: "12" });
    expect((await checkProvenance(copy.pdu, await hubKeys())).ok).toBe(true);
  });

  it("carries the LM room's topic into the Matrix room, through the service user where the sender lacks the power", async () => {
    const { alice, lm, mx } = await pairedRooms("conv6");
    // Alice paired the rooms, so she moderates the Matrix room too; bob may set the LM topic but has no power there.
    const bob = await register("conv6b");
    expect((await call("POST", `${C}/join/${enc(lm)}`, bob.token, {})).status).toBe(200);
    expect((await call("PUT", `${C}/rooms/${enc(lm)}/state/m.room.power_levels/`, alice.token, { users: { [alice.userId]: 100, [bob.userId]: 50 } })).status).toBe(200);
    expect((await call("PUT", `${C}/rooms/${enc(lm)}/state/m.room.topic/`, bob.token, { topic: "bridged" })).status).toBe(200);
    const topic = await waitFor(mx, (e) => e.pdu.type === "m.room.topic");
    expect(topic.pdu.content["topic"]).toBe("bridged");
    expect(topic.pdu.sender).toBe(SERVICE);
    expect((await checkProvenance(topic.pdu, await hubKeys())).ok).toBe(true);
  });

  it("gives a remote sender a ghost, joins it first, and answers a second copy as a duplicate", async () => {
    const { lm, mx } = await pairedRooms("conv3");
    const remote = { room_id: lm, type: "m.room.message", sender: "@carol:p1.example", origin_server_ts: 1, content: { body: "from a participant" }, hashes: {}, signatures: {}, auth_events: [], prev_events: [], hub_server: HUB } as unknown as Pdu;
    const item = { sourceRoomId: lm, sourceVersion: LM_ROOM_VERSION_ID, eventId: "$" + "C".repeat(43), pduJson: JSON.stringify(remote) };
    const first = await room(mx).importConverted(item);
    expect(first.outcome).toBe("accepted");
    const ghost = "@_lm_carol=3ap1.example:hub.test";
    expect(await room(mx).membership(ghost)).toBe("join");
    const lastPos = (await room(mx).info())?.lastPos;
    const second = await room(mx).importConverted(item);
    expect(second).toEqual({ outcome: "duplicate", eventId: (first as { eventId: string }).eventId });
    expect((await room(mx).info())?.lastPos).toBe(lastPos);
    const copy = (await events(mx)).find((e) => e.eventId === (first as { eventId: string }).eventId);
    expect(copy?.pdu.sender).toBe(ghost);
  });

  it("refuses an import from a room it is not paired with", async () => {
    const { mx } = await pairedRooms("conv4");
    const res = await room(mx).importConverted({ sourceRoomId: "!elsewhere:hub.test", sourceVersion: LM_ROOM_VERSION_ID, eventId: "$" + "D".repeat(43), pduJson: "{}" });
    expect(res.outcome).toBe("rejected");
  });

  it("refuses a client event carrying a provenance block", async () => {
    const { alice, lm } = await pairedRooms("conv5");
    const res = await call("PUT", `${C}/rooms/${enc(lm)}/send/m.room.message/forge`, alice.token, { body: "x", [PROVENANCE_KEY]: { room_id: lm } });
    expect([res.status, res.json["errcode"]]).toEqual([403, "M_FORBIDDEN"]);
  });

  it("reserves the service user's and ghosts' usernames", async () => {
    for (const username of ["_switchboard", "_lm_x", "_mx_y"]) {
      const res = await call("POST", `${C}/register`, undefined, { username, password: "pw-long-enough", auth: { type: "m.login.dummy" } });
      expect([res.status, res.json["errcode"]]).toEqual([400, "M_EXCLUSIVE"]);
    }
  });
});
