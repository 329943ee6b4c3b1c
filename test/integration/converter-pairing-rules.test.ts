// What pairing sets up beyond the pair events, and unbans across the converter, inside one hub:
// the Matrix room starts with the LM room's encryption (and later encryption changes cross); the
// pairing member gives the service user the LM room's invite level, or pairing is refused whole;
// an unban on either side lifts the ban of the same user on the other, sent by the service user.

import { describe, expect, it } from "vitest";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { C, call, enc, register } from "./client-helpers.js";
import { PAIR, room, waitFor } from "./converter-helpers.js";

const SERVICE = "@_switchboard:hub.test";
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2", rotation_period_ms: 604800000, rotation_period_msgs: 100 };

type Account = { userId: string; token: string };

async function lmRoom(owner: Account, body: Record<string, unknown>): Promise<string> {
  const res = await call("POST", `${C}/createRoom`, owner.token, { room_version: LM_ROOM_VERSION_ID, ...body });
  expect(res.status).toBe(200);
  return res.json["room_id"] as string;
}

async function pair(lm: string, by: Account): Promise<string> {
  const res = await call("POST", PAIR(lm), by.token, {});
  expect(res.status).toBe(200);
  return res.json["peer_room_id"] as string;
}

const stateContent = async (roomId: string, type: string) => {
  const e = await room(roomId).stateEvent(type, "");
  return e ? (JSON.parse(e.json) as { sender: string; content: Record<string, unknown> }) : undefined;
};

/** Waits (up to 5 s) until `userId`'s membership in `roomId` is `want`. */
async function membershipBecomes(roomId: string, userId: string, want: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await room(roomId).membership(userId)) !== want) {
    if (Date.now() > deadline) throw new Error(`${userId} is ${await room(roomId).membership(userId)} in ${roomId}, not ${want}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the paired Matrix room carries the LM room's encryption", () => {
  it("starts the Matrix room with the LM room's Megolm m.room.encryption", async () => {
    const alice = await register("penc1a");
    const lm = await lmRoom(alice, { preset: "public_chat", initial_state: [{ type: "m.room.encryption", state_key: "", content: MEGOLM }] });
    const mx = await pair(lm, alice);
    expect((await stateContent(mx, "m.room.encryption"))?.content).toEqual(MEGOLM);
  });

  it("starts the Matrix room with the MLS algorithm an MLS LM room's create event fixes", async () => {
    const alice = await register("penc2a");
    const lm = await lmRoom(alice, { preset: "public_chat", creation_content: { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } } });
    const mx = await pair(lm, alice);
    expect((await stateContent(mx, "m.room.encryption"))?.content).toMatchObject({ algorithm: MLS_DEFAULT_ALGORITHM });
  });

  it("leaves an unencrypted LM room's Matrix room unencrypted, and carries encryption turned on later", async () => {
    const alice = await register("penc3a");
    const lm = await lmRoom(alice, { preset: "public_chat" });
    const mx = await pair(lm, alice);
    expect(await stateContent(mx, "m.room.encryption")).toBeUndefined();
    const on = await call("PUT", `${C}/rooms/${enc(lm)}/state/m.room.encryption/`, alice.token, MEGOLM);
    expect(on.status).toBe(200);
    const copy = await waitFor(mx, (e) => e.pdu.type === "m.room.encryption");
    expect(copy.pdu.content).toMatchObject({ ...MEGOLM, [PROVENANCE_KEY]: { room_id: lm, event_id: on.json["event_id"] } });
    expect((await stateContent(mx, "m.room.encryption"))?.content["algorithm"]).toBe(MEGOLM.algorithm);
  });
});

describe("pairing lets the service user invite into the LM room", () => {
  it("has the pairing member grant the service user the invite level, so a Matrix member gets into the invite-only LM room", async () => {
    const alice = await register("ppow1a");
    const bob = await register("ppow1b");
    const lm = await lmRoom(alice, { preset: "private_chat" });
    const mx = await pair(lm, alice);
    const levels = await stateContent(lm, "m.room.power_levels");
    expect(levels?.sender).toBe(alice.userId);
    expect((levels?.content["users"] as Record<string, number>)[SERVICE]).toBe(levels?.content["invite"]);
    expect(levels?.content["invite"]).toBe(50);
    // Bob is only in the Matrix room; his message there takes him into the LM room through the service user's invite.
    expect((await call("POST", `${C}/rooms/${enc(mx)}/invite`, alice.token, { user_id: bob.userId })).status).toBe(200);
    expect((await call("POST", `${C}/join/${enc(mx)}`, bob.token, {})).status).toBe(200);
    expect((await call("PUT", `${C}/rooms/${enc(mx)}/send/m.room.message/b1`, bob.token, { msgtype: "m.text", body: "from the Matrix side" })).status).toBe(200);
    const copy = await waitFor(lm, (e) => e.pdu.type === "m.room.message" && e.pdu.content["body"] === "from the Matrix side");
    expect(copy.pdu.sender).toBe(bob.userId);
    expect(await room(lm).membership(bob.userId)).toBe("join");
  });

  it("refuses pairing, writing nothing, when the member cannot grant the service user the invite level", async () => {
    const alice = await register("ppow2a");
    const bob = await register("ppow2b");
    const lm = await lmRoom(alice, { preset: "private_chat", invite: [bob.userId], power_level_content_override: { users: { [alice.userId]: 100, [bob.userId]: 50 } } });
    expect((await call("POST", `${C}/join/${enc(lm)}`, bob.token, {})).status).toBe(200);
    const before = (await room(lm).info())?.lastPos;
    // Bob may send the pair event (state_default 50) but not change power levels (100).
    const res = await call("POST", PAIR(lm), bob.token, {});
    expect([res.status, res.json["errcode"]]).toEqual([403, "M_FORBIDDEN"]);
    expect(res.json["error"]).toContain("invite level 50");
    expect((await room(lm).info())?.lastPos).toBe(before);
    // Once the service user can invite already, bob's pairing needs no grant and goes through.
    const levels = (await stateContent(lm, "m.room.power_levels"))!.content;
    expect((await call("PUT", `${C}/rooms/${enc(lm)}/state/m.room.power_levels/`, alice.token, { ...levels, users: { ...(levels["users"] as object), [SERVICE]: 50 } })).status).toBe(200);
    await pair(lm, bob);
    expect((await stateContent(lm, "m.room.power_levels"))?.sender).toBe(alice.userId);
  });
});

describe("unbans cross the converter", { timeout: 20_000 }, () => {
  async function bannedOnBothSides(stem: string, banIn: "lm" | "mx") {
    const alice = await register(`${stem}a`);
    const bob = await register(`${stem}b`);
    const lm = await lmRoom(alice, { preset: "private_chat", invite: [bob.userId] });
    expect((await call("POST", `${C}/join/${enc(lm)}`, bob.token, {})).status).toBe(200);
    const mx = await pair(lm, alice);
    await membershipBecomes(mx, bob.userId, "join");
    const where = banIn === "lm" ? lm : mx;
    expect((await call("POST", `${C}/rooms/${enc(where)}/ban`, alice.token, { user_id: bob.userId, reason: "spam" })).status).toBe(200);
    await membershipBecomes(banIn === "lm" ? mx : lm, bob.userId, "ban");
    return { alice, bob, lm, mx };
  }

  it("lifts the Matrix room's ban when the LM room's moderator unbans, by the service user", async () => {
    const { alice, bob, lm, mx } = await bannedOnBothSides("unb1", "lm");
    const unban = await call("POST", `${C}/rooms/${enc(lm)}/unban`, alice.token, { user_id: bob.userId });
    expect(unban.status).toBe(200);
    await membershipBecomes(mx, bob.userId, "leave");
    const member = JSON.parse((await room(mx).stateEvent("m.room.member", bob.userId))!.json) as { sender: string; content: Record<string, unknown> };
    expect(member.sender).toBe(SERVICE);
    expect(member.content[PROVENANCE_KEY]).toMatchObject({ room_id: lm, event_id: unban.json["event_id"] ?? expect.any(String) });
    // Bob may come back: alice's invite into the Matrix room is allowed again.
    expect((await call("POST", `${C}/rooms/${enc(mx)}/invite`, alice.token, { user_id: bob.userId })).status).toBe(200);
  });

  it("lifts the LM room's ban when the Matrix room's moderator unbans, through the LM room's auth rules", async () => {
    const { alice, bob, lm, mx } = await bannedOnBothSides("unb2", "mx");
    expect((await call("POST", `${C}/rooms/${enc(mx)}/unban`, alice.token, { user_id: bob.userId })).status).toBe(200);
    await membershipBecomes(lm, bob.userId, "leave");
    expect(JSON.parse((await room(lm).stateEvent("m.room.member", bob.userId))!.json).sender).toBe(SERVICE);
  });

  it("does not turn a kick into an unban: a member kicked on one side stays banned on the other", async () => {
    const { alice, bob, lm, mx } = await bannedOnBothSides("unb3", "lm");
    // Carol, kicked in the Matrix room, is not banned anywhere; bob's ban in the Matrix room stays.
    const carol = await register("unb3c");
    expect((await call("POST", `${C}/rooms/${enc(lm)}/invite`, alice.token, { user_id: carol.userId })).status).toBe(200);
    expect((await call("POST", `${C}/join/${enc(lm)}`, carol.token, {})).status).toBe(200);
    await membershipBecomes(mx, carol.userId, "join");
    expect((await call("POST", `${C}/rooms/${enc(lm)}/kick`, alice.token, { user_id: carol.userId })).status).toBe(200);
    await membershipBecomes(mx, carol.userId, "leave");
    expect(JSON.parse((await room(mx).stateEvent("m.room.member", carol.userId))!.json).sender).toBe(carol.userId);
    expect(await room(mx).membership(bob.userId)).toBe("ban");
  });
});
