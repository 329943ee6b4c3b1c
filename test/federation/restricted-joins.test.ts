// Restricted joins in v12 rooms across three real servers. A "parent" room (space-like) on m1 and a
// restricted room on m1 that lets the parent's members in: a member of the parent joins without an
// invite (locally, or from another server through make_join/send_join, the join then carrying m1's
// signature as authoriser), a non-member gets 403 M_FORBIDDEN, an invited user needs no condition.
// A server that is not in the allowed room answers 400 M_UNABLE_TO_AUTHORISE_JOIN and the joining
// server tries the next; a server with no user able to invite answers 400 M_UNABLE_TO_GRANT_JOIN.
// Forged joins naming an authoriser whose server did not sign them are refused.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { signatureKeyIds } from "../../shared/signed-json.js";
import { eventually, MatrixApiError, TestClient } from "./client.js";
import { forgeEvent, sendPdus } from "./dag-helpers.js";
import { fed, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const V = "12";
const VIA = "join_authorised_via_users_server";

async function refusal(p: Promise<unknown>): Promise<{ status: number; errcode: string | undefined }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MatrixApiError) return { status: e.status, errcode: e.body.errcode };
    throw e;
  }
  throw new Error("expected a refusal");
}

function restrictedTo(...roomIds: string[]) {
  return { join_rule: "restricted", allow: roomIds.map((room_id) => ({ type: "m.room_membership", room_id })) };
}

describe("restricted joins across servers", () => {
  let servers: TestServer[] = [];
  let m1: TestServer, m2: TestServer, m3: TestServer;
  let alice: TestClient, dave: TestClient, erin: TestClient; // m1
  let bob: TestClient, carol: TestClient, gina: TestClient; // m2
  let frank: TestClient; // m3
  let parent: string;
  let restricted: string;

  beforeAll(async () => {
    servers = await startServers(["m1.test", "m2.test", "m3.test"], { bindings: { DEFAULT_ROOM_VERSION: V } });
    [m1, m2, m3] = servers as [TestServer, TestServer, TestServer];
    [alice, dave, erin, bob, carol, gina, frank] = await Promise.all([
      TestClient.register(m1, "alice"),
      TestClient.register(m1, "dave"),
      TestClient.register(m1, "erin"),
      TestClient.register(m2, "bob"),
      TestClient.register(m2, "carol"),
      TestClient.register(m2, "gina"),
      TestClient.register(m3, "frank"),
    ]);
    parent = (await alice.createRoom({ preset: "public_chat" })).room_id;
    restricted = (await alice.createRoom({ preset: "private_chat", initial_state: [{ type: "m.room.join_rules", state_key: "", content: restrictedTo(parent) }] })).room_id;
  });
  afterAll(() => stopServers(servers));

  async function memberOn(server: TestServer, roomId: string, userId: string): Promise<Pdu | undefined> {
    return (await stateOf(server, roomId)).get(`m.room.member\u0000${userId}`)?.pdu;
  }

  async function joinedEverywhere(on: TestServer[], roomId: string, userId: string): Promise<Pdu[]> {
    return eventually(async () => {
      const pdus = await Promise.all(on.map((s) => memberOn(s, roomId, userId).catch(() => undefined)));
      return pdus.every((p) => p?.content["membership"] === "join") ? (pdus as Pdu[]) : undefined;
    }, `${userId} joined ${roomId} on ${on.map((s) => s.name).join(", ")}`);
  }

  it("lets a member of the allowed room on another server join through make_join/send_join, authorised and co-signed by the room's server", async () => {
    await bob.join(parent, m1.name);
    const template = await fed<{ event: { content: Record<string, unknown> } }>(m2, m1, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(restricted)}/${encodeURIComponent(bob.userId)}?ver=${V}`);
    expect([template.status, template.body.event.content[VIA]]).toEqual([200, alice.userId]);
    await bob.join(restricted, m1.name);
    for (const pdu of await joinedEverywhere([m1, m2], restricted, bob.userId)) {
      expect(pdu.content[VIA]).toBe(alice.userId);
      expect([signatureKeyIds(pdu, m1.name).length > 0, signatureKeyIds(pdu, m2.name).length > 0]).toEqual([true, true]);
    }
    const msg = await bob.send(restricted, "in by membership of the parent");
    await eventually(async () => ((await alice.timeline(restricted)).some((e) => e.event_id === msg) ? true : undefined), "bob's message on m1");
  });

  it("refuses a user of another server who is in none of the allowed rooms: 403 M_FORBIDDEN, nothing stored", async () => {
    const make = await fed(m2, m1, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(restricted)}/${encodeURIComponent(carol.userId)}?ver=${V}`);
    expect([make.status, make.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    expect(await refusal(carol.join(restricted, m1.name))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
    expect(await memberOn(m1, restricted, carol.userId)).toBeUndefined();
  });

  it("joins a local member of the allowed room with a local authoriser named, and refuses a local non-member with 403", async () => {
    await dave.join(parent);
    await dave.join(restricted);
    expect((await memberOn(m1, restricted, dave.userId))?.content[VIA]).toBe(alice.userId);
    expect(await refusal(erin.join(restricted))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
    expect(await memberOn(m1, restricted, erin.userId)).toBeUndefined();
  });

  it("admits members of the allowed room to a knock_restricted room the same way, while others may still knock", async () => {
    const knockRoom = (await alice.createRoom({ preset: "private_chat", initial_state: [{ type: "m.room.join_rules", state_key: "", content: { ...restrictedTo(parent), join_rule: "knock_restricted" } }] })).room_id;
    await dave.join(knockRoom);
    expect((await memberOn(m1, knockRoom, dave.userId))?.content[VIA]).toBe(alice.userId);
    await bob.join(knockRoom, m1.name);
    const [bobOnM1] = await joinedEverywhere([m1, m2], knockRoom, bob.userId);
    expect(bobOnM1?.content[VIA]).toBe(alice.userId);
    expect(await refusal(erin.join(knockRoom))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
    await erin.knock(knockRoom);
    expect((await memberOn(m1, knockRoom, erin.userId))?.content["membership"]).toBe("knock");
  });

  it("lets an invited user join without the condition and without an authoriser", async () => {
    await alice.invite(restricted, carol.userId);
    // m2 is in the room, so the invite reaches it over /send: carol's client would see it there first.
    await eventually(async () => ((await memberOn(m2, restricted, carol.userId))?.content["membership"] === "invite" ? true : undefined), "carol's invite on m2");
    await carol.join(restricted);
    const [onM1] = await joinedEverywhere([m1, m2], restricted, carol.userId);
    expect(onM1?.content[VIA]).toBeUndefined();
  });

  it("answers 400 M_UNABLE_TO_AUTHORISE_JOIN from a server not in the allowed room, and the joining server then tries the next resident server", async () => {
    // Allowed: a room on m2 that m1 is not in. bob (m2) is in the restricted room by invite.
    const m2Room = (await bob.createRoom({ preset: "public_chat" })).room_id;
    // invite: 0 (private_chat would ask 50), so bob may vouch for joins at m2.
    const other = (await alice.createRoom({ preset: "private_chat", power_level_content_override: { invite: 0 }, initial_state: [{ type: "m.room.join_rules", state_key: "", content: restrictedTo(m2Room) }] })).room_id;
    await alice.invite(other, bob.userId);
    await bob.join(other);
    await frank.join(m2Room, m2.name);
    const make = await fed(m3, m1, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(other)}/${encodeURIComponent(frank.userId)}?ver=${V}`);
    expect([make.status, make.body.errcode]).toEqual([400, "M_UNABLE_TO_AUTHORISE_JOIN"]);
    // Through m1 alone, the client hears why.
    expect(await refusal(frank.join(other, m1.name))).toEqual({ status: 400, errcode: "M_UNABLE_TO_AUTHORISE_JOIN" });
    // m1 first, then m2, which is in the allowed room and has bob to vouch.
    await frank.request("POST", `/join/${encodeURIComponent(other)}?server_name=${m1.name}&server_name=${m2.name}`, {});
    for (const pdu of await joinedEverywhere([m1, m2, m3], other, frank.userId)) {
      expect(pdu.content[VIA]).toBe(bob.userId);
      expect(signatureKeyIds(pdu, m2.name).length).toBeGreaterThan(0);
    }
    // A user of m2 who is in the allowed room joins locally at m2, authorised by bob.
    await gina.join(m2Room);
    await gina.join(other);
    const [ginaOnM1] = await joinedEverywhere([m1, m2], other, gina.userId);
    expect(ginaOnM1?.content[VIA]).toBe(bob.userId);
  });

  it("answers 400 M_UNABLE_TO_GRANT_JOIN when the user qualifies but no user of the server may invite; a local join then goes through a resident server that may", async () => {
    const noInvites = (await alice.createRoom({ preset: "private_chat", power_level_content_override: { invite: 50, users: { [frank.userId]: 50 } }, initial_state: [{ type: "m.room.join_rules", state_key: "", content: restrictedTo(parent) }] })).room_id;
    await alice.invite(noInvites, frank.userId);
    await frank.join(noInvites, m1.name); // m3 is in the room, with frank able to invite
    await frank.join(parent, m1.name); // and in the parent, so m3 can judge its members
    await dave.join(noInvites); // dave is in the parent; alice (the creator) vouches
    await joinedEverywhere([m1, m3], noInvites, dave.userId);
    await alice.leave(noInvites); // only dave, at level 0, is left on m1
    await eventually(async () => ((await memberOn(m3, noInvites, alice.userId))?.content["membership"] === "leave" ? true : undefined), "alice's leave on m3");
    const make = await fed(m2, m1, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(noInvites)}/${encodeURIComponent(bob.userId)}?ver=${V}`);
    expect([make.status, make.body.errcode]).toEqual([400, "M_UNABLE_TO_GRANT_JOIN"]);
    expect(await refusal(bob.join(noInvites, m1.name))).toEqual({ status: 400, errcode: "M_UNABLE_TO_GRANT_JOIN" });

    // hal, on m1 and in the parent: m1 cannot vouch, so the join goes through m3, where frank does.
    const hal = await TestClient.register(m1, "hal");
    await hal.join(parent);
    await joinedEverywhere([m1, m3], parent, hal.userId);
    await hal.join(noInvites);
    for (const pdu of await joinedEverywhere([m1, m3], noInvites, hal.userId)) {
      expect(pdu.content[VIA]).toBe(frank.userId);
      expect(signatureKeyIds(pdu, m3.name).length).toBeGreaterThan(0);
    }
  });

  describe("bad input", () => {
    it("counts malformed allow lists as no condition: joins are refused with 403, never a 500", async () => {
      for (const content of [{ join_rule: "restricted", allow: "everyone" }, { join_rule: "knock_restricted", allow: [{ type: "m.room_membership", room_id: 5 }, "junk", null, { type: "m.room_membership", room_id: "not a room" }] }, { join_rule: "restricted" }]) {
        const roomId = (await alice.createRoom({ preset: "private_chat", initial_state: [{ type: "m.room.join_rules", state_key: "", content }] })).room_id;
        expect(await refusal(dave.join(roomId))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
        const make = await fed(m2, m1, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(bob.userId)}?ver=${V}`);
        expect([make.status, make.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      }
    });

    it("answers a send_join whose authoriser is not a user ID with a 4xx, storing nothing", async () => {
      for (const via of [12, "not a user", `@alice:${m1.name}:extra:`]) {
        const state = await stateOf(m1, restricted);
        const prev = state.get(`m.room.member\u0000${alice.userId}`);
        const { eventId, pdu } = await forgeEvent(m2, state, restricted, V, { type: "m.room.member", sender: gina.userId, state_key: gina.userId, content: { membership: "join", [VIA]: via } as never }, [{ eventId: prev?.event_id as string, depth: prev?.pdu.depth as number }]);
        const res = await fed(m2, m1, "PUT", `/_matrix/federation/v2/send_join/${encodeURIComponent(restricted)}/${encodeURIComponent(eventId)}`, pdu);
        expect([res.status >= 400 && res.status < 500, typeof res.body.errcode]).toEqual([true, "string"]);
        expect(await memberOn(m1, restricted, gina.userId)).toBeUndefined();
      }
    });
  });

  describe("forged joins", () => {
    async function forgedJoin(as: TestServer, userId: string, via: string): Promise<{ eventId: string; pdu: Pdu }> {
      const state = await stateOf(m1, restricted);
      const last = state.get(`m.room.member\u0000${dave.userId}`)?.pdu as Pdu;
      const lastId = state.get(`m.room.member\u0000${dave.userId}`)?.event_id as string;
      return forgeEvent(as, state, restricted, V, { type: "m.room.member", sender: userId, state_key: userId, content: { membership: "join", [VIA]: via } }, [{ eventId: lastId, depth: last.depth as number }]);
    }

    it("refuses over /send a join naming m1's user as authoriser that m1 never signed", async () => {
      const { eventId, pdu } = await forgedJoin(m2, gina.userId, alice.userId);
      expect(Object.keys(await sendPdus(m2, m1, [pdu]))).toContain(eventId);
      expect(await memberOn(m1, restricted, gina.userId)).toBeUndefined();
    });

    it("refuses at send_join a join naming another server's user that that server never signed", async () => {
      const mallory = `@mallory:${m3.name}`;
      const { eventId, pdu } = await forgedJoin(m3, mallory, bob.userId);
      const res = await fed(m3, m1, "PUT", `/_matrix/federation/v2/send_join/${encodeURIComponent(restricted)}/${encodeURIComponent(eventId)}`, pdu);
      expect([res.status, res.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      expect(res.body.error).toContain(VIA);
      expect(await memberOn(m1, restricted, mallory)).toBeUndefined();
    });

    it("judges again at send_join a join naming m1's user: a non-member of the allowed room gets 403 and m1 signs nothing", async () => {
      const { eventId, pdu } = await forgedJoin(m2, gina.userId, alice.userId);
      const res = await fed(m2, m1, "PUT", `/_matrix/federation/v2/send_join/${encodeURIComponent(restricted)}/${encodeURIComponent(eventId)}`, pdu);
      expect([res.status, res.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      expect(await memberOn(m1, restricted, gina.userId)).toBeUndefined();
    });

    it("does not sign a send_join naming a user of m1 who cannot vouch (not joined), even for a member of the allowed room", async () => {
      await gina.join(parent, m1.name);
      const { eventId, pdu } = await forgedJoin(m2, gina.userId, erin.userId);
      const res = await fed(m2, m1, "PUT", `/_matrix/federation/v2/send_join/${encodeURIComponent(restricted)}/${encodeURIComponent(eventId)}`, pdu);
      expect([res.status, res.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      expect(res.body.error).toContain(erin.userId);
      expect(await memberOn(m1, restricted, gina.userId)).toBeUndefined();
    });
  });
});
