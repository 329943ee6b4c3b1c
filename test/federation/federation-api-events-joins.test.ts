// The federation API as a peer sees it, continued: the event and state APIs, and the make_join/send_join
// handshake (draft -04 "Event and State APIs", "Joins"), driven by hand from participant servers.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { lpduFromPdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { eventually, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { fed, keyOf, LM_PREFIX, lpduIdOf, lpduWith, serversHoldingId } from "./forge.js";
import { stopServers, type TestServer } from "./harness.js";
import { V1, enc, startApiServers, createApiRooms } from "./federation-api-setup.js";

describe("federation API of a hub, driven by hand from participant servers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;
  /** A second room on the hub with only alice in it: no member of p1 or p2. */
  let privateRoomId: string;
  let privateEventId: string;

  beforeAll(async () => {
    ({ servers, hub, p1, p2, alice, bob, carol } = await startApiServers());
  });
  afterAll(() => stopServers(servers));

  describe("in a room with users of all three servers", () => {
    beforeAll(async () => {
      ({ roomId, privateRoomId, privateEventId } = await createApiRooms(alice, bob, carol));
    });

    describe("event and state APIs", () => {
      /** The hub's timeline and the event a /state request is made at: bob's join. */
      async function bobsJoin(): Promise<{ timeline: StoredPdu[]; join: StoredPdu }> {
        const timeline = await storedEvents(hub, roomId);
        const join = timeline.find((e) => e.pdu.type === "m.room.member" && e.pdu.state_key === bob.userId && e.pdu.content["membership"] === "join");
        if (!join) throw new Error("bob's join is not on the hub");
        return { timeline, join };
      }

      /** State before `at`, replayed from the hub's timeline: (type, state_key) -> event ID. */
      function stateBefore(timeline: StoredPdu[], at: StoredPdu): string[] {
        const state = new Map<string, string>();
        for (const e of timeline) {
          if (e.pos >= at.pos) break;
          if (typeof e.pdu["state_key"] === "string") state.set(`${e.pdu.type}\u0000${String(e.pdu["state_key"])}`, e.event_id);
        }
        return [...state.values()];
      }

      it("serves state_ids at an event: the state before it, create event first, with auth_chain_ids", async () => {
        const { timeline, join } = await bobsJoin();
        const res = await fed<{ pdu_ids: string[]; auth_chain_ids: string[] }>(p1, hub, "GET", `${V1}/state_ids/${enc(roomId)}?event_id=${enc(join.event_id)}`);
        expect(res.status).toBe(200);
        const expected = stateBefore(timeline, join);
        expect([...res.body.pdu_ids].sort()).toEqual([...expected].sort());
        expect(res.body.pdu_ids[0]).toBe(timeline[0]?.event_id);
        expect(timeline[0]?.pdu.type).toBe("m.room.create");
        expect(res.body.pdu_ids).not.toContain(join.event_id);
        // Bob was invited before he joined: his state then is the invite.
        const invite = timeline.find((e) => e.pdu.state_key === bob.userId && e.pdu.content["membership"] === "invite");
        expect(res.body.pdu_ids).toContain(invite?.event_id);
        expect(Array.isArray(res.body.auth_chain_ids)).toBe(true);
      });

      it("serves state at an event as full PDUs whose auth chain is complete", async () => {
        const { timeline, join } = await bobsJoin();
        const res = await fed<{ pdus: Pdu[]; auth_chain: Pdu[] }>(p1, hub, "GET", `${V1}/state/${enc(roomId)}?event_id=${enc(join.event_id)}`);
        expect(res.status).toBe(200);
        const ids = await Promise.all(res.body.pdus.map((e) => lpduIdOf(e)));
        expect([...ids].sort()).toEqual([...stateBefore(timeline, join)].sort());
        expect(res.body.pdus[0]?.type).toBe("m.room.create");
        // Each PDU is the hub's stored event, byte for byte as JSON.
        const byId = new Map(timeline.map((e) => [e.event_id, e.pdu]));
        res.body.pdus.forEach((e, i) => expect(e).toEqual(byId.get(ids[i] as string)));
        // Every auth event of the state is in the state or the auth chain.
        expect(Array.isArray(res.body.auth_chain)).toBe(true);
        const known = new Set([...ids, ...(await Promise.all(res.body.auth_chain.map((e) => lpduIdOf(e))))]);
        for (const e of [...res.body.pdus, ...res.body.auth_chain]) for (const a of e.auth_events) expect(known).toContain(a);
        const idsAnswer = await fed<{ auth_chain_ids: string[] }>(p1, hub, "GET", `${V1}/state_ids/${enc(roomId)}?event_id=${enc(join.event_id)}`);
        expect([...idsAnswer.body.auth_chain_ids].sort()).toEqual((await Promise.all(res.body.auth_chain.map((e) => lpduIdOf(e)))).sort());
      });

      it("answers state for an event the room does not have with 404 M_NOT_FOUND", async () => {
        for (const what of ["state", "state_ids"]) {
          const unknown = await fed(p1, hub, "GET", `${V1}/${what}/${enc(roomId)}?event_id=${enc("$NoSuchEventAnywhereAtAllNoSuchEventAnywhere00")}`);
          expect([what, unknown.status, unknown.body.errcode]).toEqual([what, 404, "M_NOT_FOUND"]);
          // An event of another room is not in this one.
          const foreign = await fed(p1, hub, "GET", `${V1}/${what}/${enc(roomId)}?event_id=${enc(privateEventId)}`);
          expect([what, foreign.status, foreign.body.errcode]).toEqual([what, 404, "M_NOT_FOUND"]);
        }
      });

      it("answers state requests to a participant with 400 M_WRONG_SERVER", async () => {
        const { join } = await bobsJoin();
        for (const what of ["state", "state_ids"]) {
          const res = await fed(p2, p1, "GET", `${V1}/${what}/${enc(roomId)}?event_id=${enc(join.event_id)}`);
          expect([what, res.status, res.body.errcode]).toEqual([what, 400, "M_WRONG_SERVER"]);
        }
      });

      it("backfills at most limit events up to and including v, oldest first", async () => {
        const timeline = await storedEvents(hub, roomId);
        const v = timeline[timeline.length - 2] as StoredPdu;
        const res = await fed<{ pdus: Pdu[] }>(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc(v.event_id)}&limit=3`);
        expect(res.status).toBe(200);
        expect(res.body.pdus.length).toBe(3);
        const ids = await Promise.all(res.body.pdus.map((e) => lpduIdOf(e)));
        expect(ids).toEqual(timeline.slice(timeline.length - 4, timeline.length - 1).map((e) => e.event_id));
        expect(ids[ids.length - 1]).toBe(v.event_id);

        const one = await fed<{ pdus: Pdu[] }>(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc(v.event_id)}&limit=1`);
        expect(await Promise.all(one.body.pdus.map((e) => lpduIdOf(e)))).toEqual([v.event_id]);

        // From the create event there is nothing older.
        const first = await fed<{ pdus: Pdu[] }>(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc(timeline[0]?.event_id as string)}&limit=10`);
        expect(await Promise.all(first.body.pdus.map((e) => lpduIdOf(e)))).toEqual([timeline[0]?.event_id]);
      });

      it("backfill checks the events requested belong to the room", async () => {
        const res = await fed(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc(privateEventId)}&limit=10`);
        expect(res.status).toBe(404);
        expect(res.body.errcode).toBe("M_NOT_FOUND");
      });

      it("serves an event by ID as the stored PDU, and 404 M_NOT_FOUND for an unknown one", async () => {
        const timeline = await storedEvents(hub, roomId);
        const msg = timeline.find((e) => e.pdu.content["body"] === "hello from the hub") as StoredPdu;
        // The event-to-room index is written behind the timeline: allow it a moment.
        const res = await eventually(async () => {
          const r = await fed<Pdu>(p1, hub, "GET", `${LM_PREFIX}/event/${enc(msg.event_id)}`);
          return r.status === 200 ? r : undefined;
        }, "the event to be served");
        expect(res.body).toEqual(msg.pdu);
        expect(await lpduIdOf(res.body)).toBe(msg.event_id);

        const unknown = await fed(p1, hub, "GET", `${LM_PREFIX}/event/${enc("$NoSuchEventAnywhereAtAllNoSuchEventAnywhere00")}`);
        expect(unknown.status).toBe(404);
        expect(unknown.body.errcode).toBe("M_NOT_FOUND");
        // Naming a room p1 may read does not open an event of another room.
        const foreign = await fed(p1, hub, "GET", `${LM_PREFIX}/event/${enc(privateEventId)}?room_id=${enc(roomId)}`);
        expect(foreign.status).toBe(404);
        expect(foreign.body.errcode).toBe("M_NOT_FOUND");
      });

      it("does not let a server without a member in the room read its events or state", async () => {
        // Positive control: the same requests made by the hub itself are answered (so the 404s below
        // are not merely "not indexed yet").
        const timeline = await storedEvents(hub, privateRoomId);
        expect(timeline.map((e) => e.event_id)).toContain(privateEventId);
        const create = timeline[0] as StoredPdu;
        await eventually(async () => ((await fed(hub, hub, "GET", `${LM_PREFIX}/event/${enc(privateEventId)}`)).status === 200 ? true : undefined), "the hub to serve the event");
        const own = await fed(hub, hub, "GET", `${V1}/state_ids/${enc(privateRoomId)}?event_id=${enc(privateEventId)}`);
        expect(own.status).toBe(200);
        for (const s of [p1, p2]) {
          const requests = [
            `${LM_PREFIX}/event/${enc(privateEventId)}`,
            `${LM_PREFIX}/event/${enc(privateEventId)}?room_id=${enc(privateRoomId)}`,
            `${LM_PREFIX}/backfill/${enc(privateRoomId)}?v=${enc(privateEventId)}&limit=10`,
            `${V1}/state/${enc(privateRoomId)}?event_id=${enc(privateEventId)}`,
            `${V1}/state_ids/${enc(privateRoomId)}?event_id=${enc(privateEventId)}`,
            `${V1}/state_ids/${enc(privateRoomId)}?event_id=${enc(create.event_id)}`,
          ];
          for (const path of requests) {
            const res = await fed(s, hub, "GET", path);
            expect([s.name, path, res.status, res.body.errcode]).toEqual([s.name, path, 404, "M_NOT_FOUND"]);
          }
        }
      });
    });

    describe("make_join and send_join", () => {
      const lmVer = `ver=${enc(LM_ROOM_VERSION_ID)}`;

      it("refuses make_join for a user of another server than the origin with 403", async () => {
        const res = await fed(p1, hub, "GET", `${V1}/make_join/${enc(roomId)}/${enc(`@dave:${p2.name}`)}?${lmVer}`);
        expect(res.status).toBe(403);
        expect(res.body.errcode).toBe("M_FORBIDDEN");
      });

      it("refuses make_join whose ver does not list the room version with 400 M_INCOMPATIBLE_ROOM_VERSION", async () => {
        const dave = `@dave:${p2.name}`;
        for (const q of ["?ver=10&ver=11", ""]) {
          const res = await fed(p2, hub, "GET", `${V1}/make_join/${enc(roomId)}/${enc(dave)}${q}`);
          expect([q, res.status, res.body.errcode]).toEqual([q, 400, "M_INCOMPATIBLE_ROOM_VERSION"]);
        }
      });

      it("answers make_join for an unknown room with 404 and at a participant with 400 M_WRONG_SERVER", async () => {
        const dave = `@dave:${p2.name}`;
        const unknown = await fed(p2, hub, "GET", `${V1}/make_join/${enc(`!nosuchroom:${hub.name}`)}/${enc(dave)}?${lmVer}`);
        expect([unknown.status, unknown.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
        const participant = await fed(p2, p1, "GET", `${V1}/make_join/${enc(roomId)}/${enc(dave)}?${lmVer}`);
        expect([participant.status, participant.body.errcode]).toEqual([400, "M_WRONG_SERVER"]);
      });

      it("refuses send_join of a join for a user of another server than the origin with 403", async () => {
        // carol's genuine join LPDU (signed by p2), sent by p1.
        const lpdu = await lpduWith(await keyOf(p2), hub.name, {
          room_id: roomId,
          type: "m.room.member",
          state_key: `@frank:${p2.name}`,
          sender: `@frank:${p2.name}`,
          content: { membership: "join" },
        });
        const res = await fed(p1, hub, "POST", `${LM_PREFIX}/send_join/${enc((await lpduIdOf(lpdu)).slice(1))}`, lpdu);
        expect([res.status, res.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
        expect(await serversHoldingId([hub], roomId, await lpduIdOf(lpdu))).toEqual([]);
      });

      it("refuses make_join for a user the auth rules would not admit with 403", async () => {
        const res = await fed(p2, hub, "GET", `${V1}/make_join/${enc(roomId)}/${enc(`@uninvited:${p2.name}`)}?${lmVer}`);
        expect(res.status).toBe(403);
        expect(res.body.errcode).toBe("M_FORBIDDEN");
      });

      it("joins a new user by make_join and send_join driven by hand, answering state, auth_chain and the event", async () => {
        const dave = await TestClient.register(p2, "dave");
        await alice.invite(roomId, dave.userId);

        const make = await fed<{ event?: Record<string, unknown>; room_version?: string } & Record<string, unknown>>(
          p2,
          hub,
          "GET",
          `${V1}/make_join/${enc(roomId)}/${enc(dave.userId)}?ver=11&${lmVer}`,
        );
        expect(make.status).toBe(200);
        expect(make.body.room_version).toBe(LM_ROOM_VERSION_ID);
        const template = (make.body.event ?? make.body) as Record<string, unknown>;
        expect(template).toMatchObject({ type: "m.room.member", state_key: dave.userId, sender: dave.userId, content: { membership: "join" } });

        const lpdu = await lpduWith(await keyOf(p2), hub.name, {
          room_id: roomId,
          type: "m.room.member",
          state_key: dave.userId,
          sender: dave.userId,
          content: { membership: "join" },
        });
        const lpduId = await lpduIdOf(lpdu);
        const send = await fed<{ state: Pdu[]; auth_chain: Pdu[]; event: Pdu }>(p2, hub, "POST", `${LM_PREFIX}/send_join/${enc(lpduId.slice(1))}`, lpdu);
        expect(send.status).toBe(200);
        const { state, auth_chain: authChain, event } = send.body;
        expect(state[0]?.type).toBe("m.room.create");
        expect(Array.isArray(authChain)).toBe(true);
        // The state is the state before the join: dave is there as invited.
        const daveState = state.filter((e) => e.type === "m.room.member" && e.state_key === dave.userId);
        expect(daveState.map((e) => e.content["membership"])).toEqual(["invite"]);
        // The event is our LPDU completed and signed by the hub.
        expect(event.auth_events.length).toBeGreaterThan(0);
        expect(event.prev_events.length).toBe(1);
        expect(typeof event.hashes.sha256).toBe("string");
        expect(event.hashes.lpdu).toEqual(lpdu.hashes.lpdu);
        expect(Object.keys(event.signatures).sort()).toEqual([hub.name, p2.name].sort());
        expect(await lpduIdOf(lpduFromPdu(event))).toBe(lpduId);

        const joinId = await lpduIdOf(event);
        expect(await serversHoldingId([hub], roomId, joinId)).toEqual([hub.name]);
        await eventually(async () => ((await serversHoldingId(servers, roomId, joinId)).length === 3 ? true : undefined), "the join everywhere");
        const members = await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(roomId)}/joined_members`);
        expect(Object.keys(members.joined)).toContain(dave.userId);
      });
    });
  });
});
