// Hostile peers: forged request signatures, events a participant has no right to send, tampered or
// impersonated hub events, and unsigned invites. Each refusal is checked on the wire and in every
// server's store; each group ends with (or contains) a control that the honest form is accepted,
// so a refusal cannot pass for the wrong reason.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { completeLpdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { signedRequestObject, formatXMatrixHeader } from "../../shared/x-matrix.js";
import { canonicalJson, canonicalJsonBytes } from "../../shared/canonical-json.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import type { ServerName } from "../../shared/ids.js";
import { eventually, MatrixApiError, TestClient } from "./client.js";
import {
  completedPdu,
  fed,
  freshKeySecret,
  keyOf,
  keyVersionOf,
  LM_PREFIX,
  lpduIdOf,
  lpduWith,
  marker,
  newTxnId,
  pendingInvite,
  plainPdu,
  sendTxn,
  serversHolding,
  serversHoldingId,
  wrongSignature,
  type EventFields,
} from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const enc = encodeURIComponent;
const message = (body: string) => ({ msgtype: "m.text", body });

describe("hostile federation peers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
    carol = await TestClient.register(p2, "carol");
    roomId = (await alice.createRoom({ name: "Hostile" })).room_id;
    await alice.invite(roomId, bob.userId);
    await alice.invite(roomId, carol.userId);
    await bob.join(roomId);
    await carol.join(roomId);
  });
  afterAll(() => stopServers(servers));

  /** bob's message as p1 would send it to the hub, signed with p1's real key. */
  async function bobsLpdu(body: string) {
    return lpduWith(await keyOf(p1), hub.name, { room_id: roomId, type: "m.room.message", sender: bob.userId, content: message(body) });
  }

  /** Waits until every server holds `body` in the room (the fan-out of an accepted event). */
  async function everywhere(rid: string, body: string, on: readonly TestServer[] = servers): Promise<void> {
    await eventually(async () => ((await serversHolding(on, rid, body)).length === on.length ? true : undefined), `${body} on every server`);
  }

  describe("request authentication", () => {
    const sendPath = () => `${LM_PREFIX}/send/${newTxnId()}`;

    /** An Authorization header signed by p1's real key but naming another key ID. */
    async function headerWithKeyId(path: string, body: unknown, keyId: string): Promise<string> {
      const key = await keyOf(p1);
      const bytes = canonicalJsonBytes(signedRequestObject("PUT", path, p1.name, hub.name, body));
      const sig = encodeBase64(await key.sign(bytes));
      return formatXMatrixHeader({ origin: p1.name as ServerName, destination: hub.name as ServerName, key: keyId, sig });
    }

    it("refuses forged, misdirected, unknown-key, missing and malformed X-Matrix credentials with 401 M_UNAUTHORIZED, storing nothing", async () => {
      const refusedBodies: string[] = [];
      const attempt = async (what: string, send: (path: string, body: unknown) => Promise<Response>) => {
        const body = marker(what);
        refusedBodies.push(body);
        const txn = { pdus: [await bobsLpdu(body)] };
        const res = await send(sendPath(), txn);
        const json = (await res.json()) as { errcode?: string };
        expect([what, res.status, json.errcode]).toEqual([what, 401, "M_UNAUTHORIZED"]);
      };
      const put = (path: string, body: unknown, authorization?: string) =>
        fetch(`${hub.url}${path}`, {
          method: "PUT",
          headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
          body: canonicalJson(body),
        });

      // Signed as p1 under p1's real key ID, with a key that is not p1's.
      await attempt("forged", (path, body) => p1.federation(hub, "PUT", path, body, { signingKeySecret: freshKeySecret(keyVersionOf(p1)) }));
      // Signed as p1 with a new key under a key ID p1 never published.
      await attempt("fresh-key", (path, body) => p1.federation(hub, "PUT", path, body, { signingKeySecret: freshKeySecret() }));
      // A genuine signature by p1, for p2.
      await attempt("wrong-destination", (path, body) => p1.federation(hub, "PUT", path, body, { destination: p2.name }));
      // A genuine signature by p1's key, claimed under a key ID p1 does not have.
      await attempt("unknown-key", async (path, body) => put(path, body, await headerWithKeyId(path, body, "ed25519:nosuchkey")));
      // A genuine signature over another body.
      await attempt("other-body", async (path, body) => put(path, body, await headerWithKeyId(path, { pdus: [] }, `ed25519:${keyVersionOf(p1)}`)));
      // A genuine signature by p1, presented as p2's.
      await attempt("wrong-origin", async (path, body) => {
        const h = await headerWithKeyId(path, body, `ed25519:${keyVersionOf(p1)}`);
        return put(path, body, h.replace(`origin="${p1.name}"`, `origin="${p2.name}"`));
      });
      await attempt("missing", (path, body) => put(path, body));
      await attempt("bearer", (path, body) => put(path, body, "Bearer sometoken"));
      const genuine = async (path: string, body: unknown) => headerWithKeyId(path, body, `ed25519:${keyVersionOf(p1)}`);
      await attempt("unterminated", async (path, body) => put(path, body, (await genuine(path, body)).replace(/"$/, "")));
      await attempt("no-sig", async (path, body) => put(path, body, (await genuine(path, body)).replace(/,sig="[^"]*"/, "")));
      await attempt("no-origin", async (path, body) => put(path, body, (await genuine(path, body)).replace(/origin="[^"]*",/, "")));
      await attempt("bad-base64", async (path, body) => put(path, body, (await genuine(path, body)).replace(/sig="[^"]*"/, 'sig="!!not base64!!"')));
      await attempt("garbage", (path, body) => put(path, body, 'X-Matrix origin="p1.test" key'));
      // Every credential presented must verify: a genuine one does not carry a forged one.
      await attempt("genuine-and-forged", async (path, body) => {
        const forgedKey = await parseSigningKeySecret(freshKeySecret());
        const bytes = canonicalJsonBytes(signedRequestObject("PUT", path, p1.name, hub.name, body));
        const forged = formatXMatrixHeader({ origin: p1.name as ServerName, destination: hub.name as ServerName, key: forgedKey.keyId, sig: encodeBase64(await forgedKey.sign(bytes)) });
        return put(path, body, `${await genuine(path, body)}, ${forged}`);
      });

      // Control: the same kind of transaction, properly signed, is accepted and fanned out.
      const okBody = marker("control");
      const ok = await sendTxn(p1, hub, [await bobsLpdu(okBody)]);
      expect(ok.status).toBe(200);
      expect(ok.body.failed_pdus).toEqual({});
      await everywhere(roomId, okBody);
      for (const body of refusedBodies) expect([body, await serversHolding(servers, roomId, body)]).toEqual([body, []]);
    });

    it("refuses a forged signature on read endpoints too", async () => {
      const res = await fed(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc("$x")}&limit=1`, undefined, {
        signingKeySecret: freshKeySecret(keyVersionOf(p1)),
      });
      expect(res.status).toBe(401);
      expect(res.body.errcode).toBe("M_UNAUTHORIZED");
      const state = await fed(p1, hub, "GET", `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc("$x")}`, undefined, { destination: p2.name });
      expect(state.status).toBe(401);
      expect(state.body.errcode).toBe("M_UNAUTHORIZED");
    });
  });

  describe("events a participant may not send to the hub", () => {
    it("refuses full PDUs from a participant for a room the hub hosts, storing them nowhere", async () => {
      const p1Key = await keyOf(p1);
      // A complete event in the plain form, signed by p1 as its sender's server.
      const plainBody = marker("p1-plain-pdu");
      const fields: EventFields = { room_id: roomId, type: "m.room.message", sender: bob.userId, content: message(plainBody) };
      const plain = await plainPdu(hub, p1.name, p1Key, fields);
      // bob's honest LPDU, completed by p1 posing as the hub.
      const posingBody = marker("p1-posing-as-hub");
      const posing = await completedPdu(hub, await bobsLpdu(posingBody), hub.name, p1Key);
      expect(plain.auth_events.length).toBeGreaterThan(0);
      expect(posing.auth_events.length).toBeGreaterThan(0);

      const answer = await sendTxn(p1, hub, [plain, posing]);
      expect(answer.status).toBe(200);
      const failed = answer.body.failed_pdus ?? {};
      const ids = [await lpduIdOf(plain), await lpduIdOf(posing)];
      expect(Object.keys(failed).sort()).toEqual([...ids].sort());

      const controlBody = marker("control");
      expect((await sendTxn(p1, hub, [await bobsLpdu(controlBody)])).body.failed_pdus).toEqual({});
      await everywhere(roomId, controlBody);
      for (const body of [plainBody, posingBody]) expect([body, await serversHolding(servers, roomId, body)]).toEqual([body, []]);
      for (const id of ids) expect(await serversHoldingId(servers, roomId, id)).toEqual([]);
    });

    it("refuses LPDUs whose sender belongs to another server than the origin, storing them nowhere", async () => {
      // Made up by p1 in carol's name and signed with p1's key...
      const forgedBody = marker("carol-by-p1");
      const forged = await lpduWith(await keyOf(p1), hub.name, { room_id: roomId, type: "m.room.message", sender: carol.userId, content: message(forgedBody) });
      // ...and carol's genuine LPDU (signed by p2), relayed by p1.
      const relayedBody = marker("carol-relayed");
      const relayed = await lpduWith(await keyOf(p2), hub.name, { room_id: roomId, type: "m.room.message", sender: carol.userId, content: message(relayedBody) });
      const answer = await sendTxn(p1, hub, [forged, relayed]);
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body.failed_pdus ?? {}).sort()).toEqual([await lpduIdOf(forged), await lpduIdOf(relayed)].sort());

      // Control: the relayed LPDU, sent by its own server, is accepted.
      expect((await sendTxn(p2, hub, [relayed])).body.failed_pdus).toEqual({});
      await everywhere(roomId, relayedBody);
      expect(await serversHolding(servers, roomId, forgedBody)).toEqual([]);
    });
  });

  describe("participants check what comes from the hub", () => {
    let forgeRoomId: string;

    beforeAll(async () => {
      // A room of its own: the control at the end adds an event only p1 holds.
      forgeRoomId = (await alice.createRoom({ name: "Forgeries" })).room_id;
      await alice.invite(forgeRoomId, bob.userId);
      await bob.join(forgeRoomId);
    });

    const aliceSays = (body: string): EventFields => ({ room_id: forgeRoomId, type: "m.room.message", sender: alice.userId, content: message(body) });

    /** Sends `pdu` to p1 as `from` and expects it in failed_pdus under its ID, stored nowhere on p1. */
    async function refusedByP1(from: TestServer, pdu: Pdu, body: string): Promise<string> {
      const answer = await sendTxn(from, p1, [pdu]);
      expect(answer.status).toBe(200);
      const id = await lpduIdOf(pdu);
      const failed = answer.body.failed_pdus ?? {};
      expect(Object.keys(failed)).toEqual([id]);
      expect(await serversHolding([p1], forgeRoomId, body)).toEqual([]);
      return failed[id]?.error ?? "";
    }

    it("refuses a hub PDU whose hub signature is broken", async () => {
      const hubKey = await keyOf(hub);
      const body = marker("bad-hub-sig");
      const pdu = await plainPdu(p1, hub.name, hubKey, aliceSays(body));
      (pdu.signatures[hub.name] as Record<string, string>)[hubKey.keyId] = await wrongSignature(hubKey);
      expect(await refusedByP1(hub, pdu, body)).toMatch(/signature/);

      // The same for an event completed from a participant's LPDU (hub_server form).
      const lpduBody = marker("bad-hub-sig-lpdu");
      const lpdu = await lpduWith(await keyOf(p1), hub.name, { room_id: forgeRoomId, type: "m.room.message", sender: bob.userId, content: message(lpduBody) });
      const completed = await completedPdu(p1, lpdu, hub.name, hubKey);
      (completed.signatures[hub.name] as Record<string, string>)[hubKey.keyId] = await wrongSignature(hubKey);
      expect(await refusedByP1(hub, completed, lpduBody)).toMatch(/signature/);
    });

    it("refuses a hub PDU whose content hash was altered", async () => {
      const hubKey = await keyOf(hub);
      const body = marker("bad-hash");
      const pdu = await plainPdu(p1, hub.name, hubKey, aliceSays(body));
      pdu.hashes = { ...pdu.hashes, sha256: encodeBase64(new Uint8Array(32).fill(7)) };
      expect(await refusedByP1(hub, pdu, body)).toMatch(/signature/);

      const lpduBody = marker("bad-hash-lpdu");
      const lpdu = await lpduWith(await keyOf(p1), hub.name, { room_id: forgeRoomId, type: "m.room.message", sender: bob.userId, content: message(lpduBody) });
      const completed = await completedPdu(p1, lpdu, hub.name, hubKey);
      completed.hashes = { ...completed.hashes, sha256: encodeBase64(new Uint8Array(32).fill(9)) };
      expect(await refusedByP1(hub, completed, lpduBody)).toMatch(/signature/);
    });

    it("refuses a PDU signed by a server that is not the hub, sent as that server", async () => {
      const p2Key = await keyOf(p2);
      // p2 signs alice's event under the hub's name with its own key.
      const body = marker("p2-as-hub");
      const pdu = await plainPdu(p1, hub.name, p2Key, aliceSays(body));
      await refusedByP1(p2, pdu, body);
      // p2 completes carol's LPDU naming itself as hub: every signature checks out, but p2 is not the hub.
      const ownBody = marker("p2-own-hub");
      const lpdu = await lpduWith(p2Key, p2.name, { room_id: forgeRoomId, type: "m.room.message", sender: carol.userId, content: message(ownBody) });
      await refusedByP1(p2, await completedPdu(p1, lpdu, p2.name, p2Key), ownBody);
      // And the hub's own genuine signature does not make p2 a hub either.
      const relayedBody = marker("relayed-by-p2");
      await refusedByP1(p2, await plainPdu(p1, hub.name, await keyOf(hub), aliceSays(relayedBody)), relayedBody);
    });

    it("accepts the same PDU from the hub when its signature and hash are intact (control)", async () => {
      const body = marker("genuine");
      const pdu = await plainPdu(p1, hub.name, await keyOf(hub), aliceSays(body));
      const answer = await sendTxn(hub, p1, [pdu]);
      expect(answer.status).toBe(200);
      expect(answer.body.failed_pdus).toEqual({});
      expect(await serversHolding([p1], forgeRoomId, body)).toEqual([p1.name]);
    });
  });

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
