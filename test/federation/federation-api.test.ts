// The federation API as a peer sees it, driven by hand from the test acting as a participant server:
// first contact between servers and the /send answers (failed_pdus, transaction IDs, limits), draft -04
// "PUT /send". The event and state APIs and joins are in federation-api-events-joins.test.ts.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient } from "./client.js";
import { completedPdu, keyOf, lpduIdOf, lpduWith, marker, newTxnId, plainPdu, sendTxn, serversHolding, serversHoldingId, stateOf } from "./forge.js";
import { stopServers, type TestServer } from "./harness.js";
import { enc, message, startApiServers, createApiRooms } from "./federation-api-setup.js";

describe("federation API of a hub, driven by hand from participant servers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    ({ servers, hub, p1, p2, alice, bob, carol } = await startApiServers());
  });
  afterAll(() => stopServers(servers));

  /** An LPDU as p1 would send it for the room, signed with p1's real key. */
  async function p1Lpdu(sender: string, type: string, content: Record<string, unknown>, stateKey?: string) {
    return lpduWith(await keyOf(p1), hub.name, {
      room_id: roomId,
      type,
      sender,
      content: content as never,
      ...(stateKey !== undefined ? { state_key: stateKey } : {}),
    });
  }

  // These run first: they need servers that have not met yet (no keys of each other cached).
  describe("first contact", () => {
    let publicRoomId: string;

    it("lets a server join a public room through a hub it has never heard from", async () => {
      publicRoomId = (await alice.createRoom({ preset: "public_chat", name: "Lobby" })).room_id;
      await alice.send(publicRoomId, "welcome");
      // p2 has verified nothing of the hub's: every event of the send_join answer needs its key.
      await carol.join(publicRoomId, hub.name);
      const members = await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(publicRoomId)}/joined_members`);
      expect(Object.keys(members.joined).sort()).toEqual([alice.userId, carol.userId].sort());
      const joinId = (await storedEvents(hub, publicRoomId)).find((e) => e.pdu.state_key === carol.userId)?.event_id as string;
      expect(await serversHoldingId([p2], publicRoomId, joinId)).toEqual([p2.name]);
    });

    it("applies the PDUs of a transaction in the order sent, even when the first needs a key fetch", async () => {
      // Acting as the hub: bob (p1) joins and alice answers, in one transaction to p2. p2 has never
      // needed p1's key, so checking the join takes a key fetch while alice's message checks at once.
      const hubKey = await keyOf(hub);
      const joinLpdu = await lpduWith(await keyOf(p1), hub.name, {
        room_id: publicRoomId,
        type: "m.room.member",
        state_key: bob.userId,
        sender: bob.userId,
        content: { membership: "join" },
      });
      const join = await completedPdu(p2, joinLpdu, hub.name, hubKey);
      const joinId = await lpduIdOf(join);
      const replyBody = marker("reply");
      const reply = await plainPdu(p2, hub.name, hubKey, { room_id: publicRoomId, type: "m.room.message", sender: alice.userId, content: message(replyBody) }, [joinId]);
      const answer = await sendTxn(hub, p2, [join, reply]);
      expect(answer.status).toBe(200);
      expect(answer.body.failed_pdus).toEqual({});
      const tail = (await storedEvents(p2, publicRoomId)).slice(-2).map((e) => e.event_id);
      expect(tail).toEqual([joinId, await lpduIdOf(reply)]);
    });
  });

  describe("in a room with users of all three servers", () => {
    beforeAll(async () => {
      ({ roomId } = await createApiRooms(alice, bob, carol));
    });

    describe("PUT /send", () => {
      it("reports LPDUs that fail the auth rules in failed_pdus under the ID of the LPDU as sent, and stores them nowhere", async () => {
        const state = await stateOf(hub, roomId);
        const pl = state.get("m.room.power_levels\u0000")?.pdu.content as Record<string, unknown>;
        expect(pl).toBeDefined();
        const raise = await p1Lpdu(bob.userId, "m.room.power_levels", { ...pl, users: { ...(pl["users"] as object), [bob.userId]: 100 } }, "");
        const strangerBody = marker("stranger");
        const stranger = await p1Lpdu(`@eve:${p1.name}`, "m.room.message", message(strangerBody));
        const okBody = marker("accepted");
        const ok = await p1Lpdu(bob.userId, "m.room.message", message(okBody));
        // Not about auth, but refused all the same: no valid room ID, and an LPDU for another hub.
        const p1Key = await keyOf(p1);
        const noRoom = await lpduWith(p1Key, hub.name, { room_id: "not a room", type: "m.room.message", sender: bob.userId, content: message(marker("no-room")) });
        const otherHubBody = marker("other-hub");
        const otherHub = await lpduWith(p1Key, p2.name, { room_id: roomId, type: "m.room.message", sender: bob.userId, content: message(otherHubBody) });

        const answer = await sendTxn(p1, hub, [raise, stranger, ok, noRoom, otherHub]);
        expect(answer.status).toBe(200);
        const failed = answer.body.failed_pdus ?? {};
        const raiseId = await lpduIdOf(raise);
        const strangerId = await lpduIdOf(stranger);
        expect(Object.keys(failed).sort()).toEqual([raiseId, strangerId, await lpduIdOf(noRoom), await lpduIdOf(otherHub)].sort());
        expect(failed[raiseId]?.error).toEqual(expect.any(String));
        expect(failed[raiseId]?.error.length).toBeGreaterThan(0);
        expect(failed[strangerId]?.error).toEqual(expect.any(String));

        // The accepted one reaches every server; by then the refused ones would have too.
        await eventually(async () => ((await serversHolding(servers, roomId, okBody)).length === 3 ? true : undefined), "the accepted message everywhere");
        expect(await serversHolding(servers, roomId, strangerBody)).toEqual([]);
        expect(await serversHolding(servers, roomId, otherHubBody)).toEqual([]);
        for (const s of servers) {
          const events = await storedEvents(s, roomId);
          expect(events.filter((e) => e.pdu.type === "m.room.power_levels" && e.pdu.sender === bob.userId)).toEqual([]);
        }
        expect((await stateOf(hub, roomId)).get("m.room.power_levels\u0000")?.event_id).toBe(state.get("m.room.power_levels\u0000")?.event_id);
      });

      it("answers a repeated transaction ID with the same answer and stores nothing twice", async () => {
        const okBody = marker("once");
        const ok = await p1Lpdu(bob.userId, "m.room.message", message(okBody));
        const bad = await p1Lpdu(`@eve:${p1.name}`, "m.room.message", message(marker("never")));
        const txnId = newTxnId();
        const first = await sendTxn(p1, hub, [ok, bad], { txnId });
        const again = await sendTxn(p1, hub, [ok, bad], { txnId });
        expect(first.status).toBe(200);
        expect(again.status).toBe(200);
        expect(Object.keys(first.body.failed_pdus ?? {})).toEqual([await lpduIdOf(bad)]);
        expect(again.body).toEqual(first.body);

        const count = async (s: TestServer) => (await storedEvents(s, roomId)).filter((e) => e.pdu.content["body"] === okBody).length;
        expect(await count(hub)).toBe(1);
        await eventually(async () => ((await count(p1)) === 1 && (await count(p2)) === 1 ? true : undefined), "the message on both participants");
        // A third delivery, after the fan-out went out, still changes nothing.
        const third = await sendTxn(p1, hub, [ok, bad], { txnId });
        expect(third.body).toEqual(first.body);
        for (const s of servers) expect(await count(s)).toBe(1);
      });

      it("answers a repeated one-PDU transaction (admitted after verification, in one step) with the same answer", async () => {
        const okBody = marker("single");
        const ok = await p1Lpdu(bob.userId, "m.room.message", message(okBody));
        const bad = await p1Lpdu(`@eve:${p1.name}`, "m.room.message", message(marker("never-single")));
        const [okTxn, badTxn] = [newTxnId(), newTxnId()];
        const first = await sendTxn(p1, hub, [ok], { txnId: okTxn });
        const refused = await sendTxn(p1, hub, [bad], { txnId: badTxn });
        expect(first.status).toBe(200);
        expect(first.body.failed_pdus ?? {}).toEqual({});
        expect(Object.keys(refused.body.failed_pdus ?? {})).toEqual([await lpduIdOf(bad)]);
        expect((await sendTxn(p1, hub, [ok], { txnId: okTxn })).body).toEqual(first.body);
        expect((await sendTxn(p1, hub, [bad], { txnId: badTxn })).body).toEqual(refused.body);
        const count = async (s: TestServer) => (await storedEvents(s, roomId)).filter((e) => e.pdu.content["body"] === okBody).length;
        expect(await count(hub)).toBe(1);
        await eventually(async () => ((await count(p1)) === 1 && (await count(p2)) === 1 ? true : undefined), "the message on both participants");
      });

      it("refuses a transaction with more than 50 PDUs with 400 M_BAD_JSON and processes none of them", async () => {
        const prefix = marker("bulk");
        const lpdus = await Promise.all(Array.from({ length: 51 }, (_, i) => p1Lpdu(bob.userId, "m.room.message", message(`${prefix}-${i}`))));
        const answer = await sendTxn(p1, hub, lpdus);
        expect(answer.status).toBe(400);
        expect(answer.body.errcode).toBe("M_BAD_JSON");
        const stored = (await storedEvents(hub, roomId)).filter((e) => String(e.pdu.content["body"]).startsWith(prefix));
        expect(stored).toEqual([]);

        // Exactly 50 is allowed.
        const fifty = await sendTxn(p1, hub, lpdus.slice(0, 50));
        expect(fifty.status).toBe(200);
        expect(fifty.body.failed_pdus ?? {}).toEqual({});
        // They are appended in the order they were sent.
        const order = (await storedEvents(hub, roomId)).map((e) => String(e.pdu.content["body"])).filter((b) => b.startsWith(prefix));
        expect(order).toEqual(lpdus.slice(0, 50).map((e) => String(e.content["body"])));
      });

      it("refuses a transaction with more than 100 EDUs with 400 M_BAD_JSON", async () => {
        const edus = Array.from({ length: 101 }, () => ({ edu_type: "m.typing", content: {} }));
        const answer = await sendTxn(p1, hub, [], { edus });
        expect(answer.status).toBe(400);
        expect(answer.body.errcode).toBe("M_BAD_JSON");
      });
    });
  });
});
