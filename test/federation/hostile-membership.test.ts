// Hostile peers around membership: unsigned or forged invites, and a server answering make_join/send_join
// for a room that is not its own. Refusals are checked on the wire and in every server's store.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { completeLpdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import { MatrixApiError, TestClient } from "./client.js";
import { completedPdu, fed, freshKeySecret, keyOf, keyVersionOf, LM_PREFIX, lpduIdOf, lpduWith, newTxnId, pendingInvite, plainPdu, wrongSignature, type EventFields } from "./forge.js";
import { stopServers, type TestServer } from "./harness.js";
import { enc, startHostileRoom } from "./hostile-setup.js";

describe("hostile federation peers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    ({ servers, hub, p1, p2, alice, bob, roomId } = await startHostileRoom());
  });
  afterAll(() => stopServers(servers));

  describe("invites", () => {
    let inviteRoomId: string;
    let erin: TestClient;

    beforeAll(async () => {
      // A room p1 takes no part in yet, as for a first invite.
      inviteRoomId = (await alice.createRoom({ name: "Invitation" })).room_id;
      erin = await TestClient.register(p1, "erin");
    });

    const inviteFields = (sender: string): EventFields => ({
      room_id: inviteRoomId,
      type: "m.room.member",
      sender,
      state_key: erin.userId,
      content: { membership: "invite" },
    });

    async function postInvite(from: TestServer, event: Pdu) {
      const txnId = (await lpduIdOf(event)).slice(1);
      return fed<{ pdu?: Pdu; event?: Pdu }>(from, p1, "POST", `${LM_PREFIX}/invite/${enc(txnId)}`, {
        event,
        room_version: LM_ROOM_VERSION_ID,
        invite_room_state: [],
      });
    }

    it("refuses invites delivered by a server that is not the room's hub", async () => {
      const fay = await TestClient.register(p1, "fay");
      const zed = await TestClient.register(hub, "zed");
      const p2Key = await keyOf(p2);
      const mallory = `@mallory:${p2.name}`;
      const forFay = (sender: string): EventFields => ({ ...inviteFields(sender), state_key: fay.userId });
      // Signed by p2 for its own user, in the plain form, for a room the hub hosts.
      const plain = await plainPdu(hub, p2.name, p2Key, forFay(mallory));
      // Completed by p2 naming itself as the hub: every signature is p2's and checks out.
      const selfHub = await completedPdu(hub, await lpduWith(p2Key, p2.name, forFay(mallory)), p2.name, p2Key);
      for (const [what, event] of [["plain", plain], ["self-named hub", selfHub]] as Array<[string, Pdu]>) {
        const res = await postInvite(p2, event);
        expect([what, res.status, res.body.errcode]).toEqual([what, 403, "M_FORBIDDEN"]);
        expect([what, await pendingInvite(p1, inviteRoomId, fay.userId)]).toEqual([what, undefined]);
      }
      // A participant cannot hand the hub an invite into the hub's own room, past its auth rules.
      const intoHubRoom = await plainPdu(hub, p1.name, await keyOf(p1), { room_id: roomId, type: "m.room.member", sender: bob.userId, state_key: zed.userId, content: { membership: "invite" } });
      const txnId = (await lpduIdOf(intoHubRoom)).slice(1);
      const res = await fed(p1, hub, "POST", `${LM_PREFIX}/invite/${enc(txnId)}`, { event: intoHubRoom, room_version: LM_ROOM_VERSION_ID, invite_room_state: [] });
      expect([res.status, res.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      expect(await pendingInvite(hub, roomId, zed.userId)).toBeUndefined();
    });

    it("inbound federation rejects invites which are not signed by the sender", async () => {
      const hubKey = await keyOf(hub);
      const unsigned = await plainPdu(hub, hub.name, hubKey, inviteFields(alice.userId));
      unsigned.signatures = {};
      const badSig = await plainPdu(hub, hub.name, hubKey, inviteFields(alice.userId));
      (badSig.signatures[hub.name] as Record<string, string>)[hubKey.keyId] = await wrongSignature(hubKey);
      const otherKey = await plainPdu(hub, hub.name, await parseSigningKeySecret(freshKeySecret(keyVersionOf(hub))), inviteFields(alice.userId));
      // A p2 user's invite completed by the hub, without p2's signature over the LPDU.
      const mallory = `@mallory:${p2.name}`;
      const unsignedLpdu = await lpduWith(await parseSigningKeySecret(freshKeySecret(keyVersionOf(p2))), hub.name, inviteFields(mallory));
      const senderUnsigned = await completedPdu(hub, unsignedLpdu, hub.name, hubKey);

      const cases: Array<[string, Pdu]> = [
        ["unsigned", unsigned],
        ["bad signature", badSig],
        ["another key", otherKey],
        ["sender's server did not sign", senderUnsigned],
      ];
      for (const [what, event] of cases) {
        const res = await postInvite(hub, event);
        expect([what, res.status >= 400 && res.status < 500, res.body.errcode]).toEqual([what, true, "M_FORBIDDEN"]);
        expect([what, await pendingInvite(p1, inviteRoomId, erin.userId)]).toEqual([what, undefined]);
      }

      // Properly signed, but in a room version p1 does not support, or delivered by a server that is not the hub.
      const genuineEvent = await plainPdu(hub, hub.name, hubKey, inviteFields(alice.userId));
      const oldVersion = await fed(hub, p1, "POST", `${LM_PREFIX}/invite/${enc(newTxnId())}`, { event: genuineEvent, room_version: "1", invite_room_state: [] });
      expect([oldVersion.status, oldVersion.body.errcode]).toEqual([400, "M_INCOMPATIBLE_ROOM_VERSION"]);
      const relayed = await postInvite(p2, genuineEvent);
      expect([relayed.status, relayed.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      expect(await pendingInvite(p1, inviteRoomId, erin.userId)).toBeUndefined();

      // Control: the properly signed invite is accepted, countersigned and kept for erin.
      const genuine = await plainPdu(hub, hub.name, hubKey, inviteFields(alice.userId));
      const res = await postInvite(hub, genuine);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.pdu?.signatures ?? {}).sort()).toEqual([hub.name, p1.name].sort());
      const kept = await pendingInvite(p1, inviteRoomId, erin.userId);
      expect(kept?.origin).toBe(hub.name);
      expect(await lpduIdOf(JSON.parse(kept?.eventJson ?? "{}") as object)).toBe(await lpduIdOf(genuine));
    });
  });

  // Last: p2 is replaced by an impostor for the rest of the file.
  describe("a server answering make_join/send_join for a room that is not its own", () => {
    let impostor: Server | undefined;
    let victimRoomId: string;
    const ownRoomId = `!impostorsown:p2.test`;
    const badStateRoomId = `!badstate:p2.test`;

    /** The room state p2 makes up: created by its own user, public, under the room ID asked for. */
    async function madeUpRoom(rid: string, lpdu: Lpdu): Promise<{ state: Pdu[]; event: Pdu }> {
      const key = await keyOf(p2);
      const mallory = `@mallory:${p2.name}`;
      const state: Pdu[] = [];
      const ids: string[] = [];
      const add = async (type: string, content: JsonObject, auth: number[]) => {
        const pdu = await buildLocalPdu(
          { room_id: rid, type, state_key: type === "m.room.member" ? mallory : "", sender: mallory, origin_server_ts: Date.now(), content },
          { authEvents: auth.map((i) => ids[i] as string), prevEvents: ids.length ? [ids[ids.length - 1] as string] : [] },
          p2.name,
          key,
          LM_ROOM_VERSION,
        );
        state.push(pdu);
        ids.push(await lpduIdOf(pdu));
      };
      await add("m.room.create", { room_version: LM_ROOM_VERSION_ID }, []);
      await add("m.room.member", { membership: "join" }, [0]);
      await add("m.room.power_levels", { users: { [mallory]: 100 } }, [0, 1]);
      // The bad-state room's join rules come from a user who never joined: the rules forbid it.
      if (rid === badStateRoomId) {
        const eve = `@eve:${p2.name}`;
        const pdu = await buildLocalPdu(
          { room_id: rid, type: "m.room.join_rules", state_key: "", sender: eve, origin_server_ts: Date.now(), content: { join_rule: "public" } },
          { authEvents: [ids[0] as string, ids[2] as string], prevEvents: [ids[2] as string] },
          p2.name,
          key,
          LM_ROOM_VERSION,
        );
        state.push(pdu);
        ids.push(await lpduIdOf(pdu));
      } else await add("m.room.join_rules", { join_rule: "public" }, [0, 1, 2]);
      const event = await completeLpdu(lpdu, { authEvents: [ids[0], ids[2], ids[3]] as string[], prevEvents: [ids[3] as string] }, p2.name, key, LM_ROOM_VERSION);
      return { state, event };
    }

    beforeAll(async () => {
      victimRoomId = (await alice.createRoom({ preset: "public_chat", name: "Victim" })).room_id;
      // p1 already holds p2's key; the impostor serves it too, so nothing fails for want of it.
      const keyDoc = await (await p2.fetch("/_matrix/key/v2/server")).text();
      await p2.stop();
      impostor = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          void (async () => {
            const url = req.url ?? "";
            const reply = (status: number, body: unknown) => {
              res.writeHead(status, { "content-type": "application/json" });
              res.end(typeof body === "string" ? body : JSON.stringify(body));
            };
            if (url === "/_matrix/key/v2/server") return reply(200, keyDoc);
            const make = /^\/_matrix\/federation\/v1\/make_join\/([^/?]+)\/([^/?]+)/.exec(url);
            if (make) {
              const [rid, user] = [decodeURIComponent(make[1] as string), decodeURIComponent(make[2] as string)];
              const event = { room_id: rid, type: "m.room.member", state_key: user, sender: user, content: { membership: "join" }, hub_server: p2.name, origin_server_ts: Date.now() };
              return reply(200, { room_version: LM_ROOM_VERSION_ID, event });
            }
            if (req.method === "POST" && url.startsWith(`${LM_PREFIX}/send_join/`)) {
              const lpdu = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Lpdu;
              const { state, event } = await madeUpRoom(lpdu.room_id, lpdu);
              return reply(200, { state, auth_chain: [], event });
            }
            return reply(404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
          })().catch((e: unknown) => {
            res.writeHead(500);
            res.end(String(e));
          });
        });
      });
      await new Promise<void>((resolve) => impostor?.listen(p2.port, "127.0.0.1", resolve));
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => (impostor ? impostor.close(() => resolve()) : resolve()));
    });

    async function hubOf(server: TestServer, rid: string): Promise<string | undefined> {
      const res = await server.fetch(`/_switchboard/admin/v1/rooms/${enc(rid)}`, { headers: { authorization: "Bearer test-admin-token" } });
      return res.status === 200 ? ((await res.json()) as { hub: string }).hub : undefined;
    }

    it("joins a room p2 hosts under its own name through p2 (control)", async () => {
      await bob.join(ownRoomId, p2.name);
      expect(await hubOf(p1, ownRoomId)).toBe(p2.name);
    });

    it("refuses a send_join answer whose state fails the auth rules, and keeps no replica of it", async () => {
      const err = await bob.join(badStateRoomId, p2.name).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MatrixApiError);
      expect((err as MatrixApiError).status).toBe(403);
      expect((err as MatrixApiError).body.errcode).toBe("M_FORBIDDEN");
      expect((err as MatrixApiError).body.error).toMatch(/fails auth.*rule 6/);
      expect(await hubOf(p1, badStateRoomId)).toBeUndefined();
    });

    it("does not let p2 become the hub of a room ID of another server", async () => {
      const outcome = await bob.join(victimRoomId, p2.name).then(
        () => "joined",
        (e: unknown) => e,
      );
      const hubThere = await hubOf(p1, victimRoomId);
      expect(hubThere).not.toBe(p2.name);
      // Either refused, or joined through the room's real hub.
      if (outcome === "joined") expect(hubThere).toBe(hub.name);
      else expect(hubThere).toBeUndefined();
    });
  });
});
