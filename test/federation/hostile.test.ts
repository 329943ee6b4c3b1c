// Hostile peers: forged request signatures, events a participant has no right to send, tampered or
// impersonated hub events, and unsigned invites. Each refusal is checked on the wire and in every
// server's store; each group ends with (or contains) a control that the honest form is accepted,
// so a refusal cannot pass for the wrong reason.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import type { Pdu } from "../../shared/event.js";
import { signedRequestObject, formatXMatrixHeader } from "../../shared/x-matrix.js";
import { canonicalJson, canonicalJsonBytes } from "../../shared/canonical-json.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import type { ServerName } from "../../shared/ids.js";
import { eventually, TestClient } from "./client.js";
import { completedPdu, fed, freshKeySecret, keyOf, keyVersionOf, LM_PREFIX, lpduIdOf, lpduWith, marker, newTxnId, plainPdu, sendTxn, serversHolding, serversHoldingId, wrongSignature, type EventFields } from "./forge.js";
import { stopServers, type TestServer } from "./harness.js";
import { enc, message, startHostileRoom } from "./hostile-setup.js";

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
    ({ servers, hub, p1, p2, alice, bob, carol, roomId } = await startHostileRoom());
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
});
