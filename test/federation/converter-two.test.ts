// Two live converters between the same two rooms: the LM hub's (c2h.test) and a second Switchboard's
// (c2s.test), whose service user joins both rooms once the hub names it in both pair events. An LM
// participant (c2p.test) and a full-mesh server (c2m.test) talk through them: every ciphertext shows
// once in each room on every server, a copy converted back (L -> D -> L) is recognised by its
// provenance chain, and copies from a server the pairing does not name are refused by the LM hub
// and soft-failed (stored, not shown, not converted) in the full-mesh room.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { PAIR_EVENT } from "../../shared/converter/pairing.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { convertedContent } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import { LM_ROOM_VERSION_ID, ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { eventually, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { forgeEvent, sendPdus } from "./dag-helpers.js";
import { keyOf, lpduIdOf, marker, sendTxn, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { adminPost, pairPublic } from "./converter-setup.js";

const HUB = "c2h.test";
const SECOND = "c2s.test";
const enc = encodeURIComponent;
const megolm = (ciphertext: string) => ({ algorithm: "m.megolm.v1.aes-sha2", ciphertext, session_id: "s", sender_key: "k", device_id: "D" });

describe("two live converters between the same LM room and Matrix room", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let second: TestServer;
  let part: TestServer;
  let mesh: TestServer;
  let alice: TestClient; // on the hub, owns the LM room
  let carol: TestClient; // on the LM participant
  let dave: TestClient; // on the full-mesh server
  let erin: TestClient; // on the second converter's server, reads the Matrix room there
  let lm: string;
  let mx: string;
  let lmRooms: Array<[TestServer, string]>;
  let mxRooms: Array<[TestServer, string]>;

  const ciphertexts = async (server: TestServer, roomId: string) =>
    (await storedEvents(server, roomId)).map((e) => e.pdu.content["ciphertext"]).filter((c): c is string => typeof c === "string");
  const withCiphertext = async (server: TestServer, roomId: string, ct: string): Promise<StoredPdu[]> =>
    (await storedEvents(server, roomId)).filter((e) => e.pdu.content["ciphertext"] === ct);
  const sendEncrypted = (client: TestClient, roomId: string, ct: string) =>
    client.request<{ event_id: string }>("PUT", `/rooms/${enc(roomId)}/send/m.room.encrypted/${marker("t")}`, megolm(ct));
  const fresh = (what: string) => Buffer.from(`${what}-${marker("ct")}`).toString("base64").replace(/=+$/, "");
  /** How many times each of `cts` is held in each room on each server. */
  const countsEverywhere = async (cts: readonly string[]) => {
    const wanted = new Set(cts);
    const out: Array<{ where: string; counts: Map<string, number> }> = [];
    for (const [server, roomId] of [...lmRooms, ...mxRooms]) {
      const counts = new Map<string, number>();
      for (const c of await ciphertexts(server, roomId)) if (wanted.has(c)) counts.set(c, (counts.get(c) ?? 0) + 1);
      out.push({ where: `${roomId === lm ? "LM" : "Matrix"} room on ${server.name}`, counts });
    }
    return out;
  };
  const expectOnceEverywhere = async (cts: readonly string[]) => {
    for (const { where, counts } of await countsEverywhere(cts)) {
      expect({ where, held: counts.size }).toEqual({ where, held: cts.length });
      expect({ where, twice: [...counts.values()].filter((n) => n !== 1).length }).toEqual({ where, twice: 0 });
    }
  };

  beforeAll(async () => {
    servers = await startServers([HUB, SECOND, "c2p.test", "c2m.test"]);
    [hub, second, part, mesh] = servers as [TestServer, TestServer, TestServer, TestServer];
    [alice, carol, dave, erin] = await Promise.all([TestClient.register(hub, "alice"), TestClient.register(part, "carol"), TestClient.register(mesh, "dave"), TestClient.register(second, "erin")]);
    lm = (await alice.createRoom({ room_version: LM_ROOM_VERSION_ID, preset: "public_chat" })).room_id;
    await carol.join(lm, HUB);
    mx = await pairPublic(hub, lm, alice.userId);
    await dave.join(mx, HUB);
    lmRooms = [[hub, lm], [second, lm], [part, lm]];
    mxRooms = [[hub, mx], [second, mx], [mesh, mx]];
  }, 60_000);
  afterAll(() => stopServers(servers));

  it("names the second converter in both rooms' pair events, and its service user joins both rooms", async () => {
    const named = await adminPost(hub, `/_switchboard/admin/v1/rooms/${enc(lm)}/pair/converters`, { user_id: alice.userId, server: SECOND });
    expect(named).toEqual({ status: 200, body: { room_id: lm, converters: [HUB, SECOND] } });
    const joined = await adminPost(second, `/_switchboard/admin/v1/rooms/${enc(lm)}/converter/join`, { via: HUB });
    expect(joined).toEqual({ status: 200, body: { room_id: lm, peer_room_ids: [mx] } });
    await erin.join(mx, HUB);
    // Every server of each room holds a pair event naming both converters.
    for (const [server, roomId, peer] of [...lmRooms.map(([s, r]) => [s, r, mx] as const), ...mxRooms.map(([s, r]) => [s, r, lm] as const)]) {
      await eventually(async () => {
        const pair = (await stateOf(server, roomId)).get(`${PAIR_EVENT}\u0000${peer}`);
        return JSON.stringify(pair?.pdu.content["converters"]) === JSON.stringify([HUB, SECOND]) || undefined;
      }, `the pair event naming both converters in ${roomId} on ${server.name}`);
    }
    // Converters' own users are not carried across: no ghost of either service user appears.
    await new Promise((r) => setTimeout(r, 500));
    for (const [server, roomId] of [...lmRooms, ...mxRooms]) {
      const members = (await storedEvents(server, roomId)).filter((e) => e.pdu.type === "m.room.member").map((e) => e.pdu["state_key"] as string);
      expect(members.filter((m) => m.includes("_switchboard="))).toEqual([]);
    }
  });

  it("carries a Matrix event only the second converter's server received into the LM room, through the second converter", async () => {
    // c2m.test's event reaches c2s.test alone (sent there and nowhere else), so only c2s.test's converter can carry it.
    const ct = fresh("only-second");
    const tips = (await storedEvents(second, mx)).slice(-1).map((e) => ({ eventId: e.event_id, depth: e.pdu["depth"] as number }));
    const { eventId, pdu } = await forgeEvent(mesh, second, mx, "12", { type: "m.room.encrypted", sender: dave.userId, content: megolm(ct) }, tips);
    expect(await sendPdus(mesh, second, [pdu])).toEqual({});
    const [copy] = await eventually(async () => {
      const found = await withCiphertext(hub, lm, ct);
      return found.length > 0 ? found : undefined;
    }, "the event in the LM room on the hub");
    expect(copy?.pdu.sender).toBe(`@_mx_dave=3ac2m.test:${SECOND}`);
    expect(copy?.pdu.content["io.switchboard.provenance"]).toMatchObject({ room_id: mx, event_id: eventId });
    await eventually(async () => ((await withCiphertext(part, lm, ct)).length === 1 ? true : undefined), "the copy on the LM participant");
  });

  it("removes both converters' ghosts of a Matrix user from the LM room when that user leaves the Matrix room", async () => {
    // Dave has a ghost from each converter in the LM room: the hub's (his join) and the second's (its message above).
    const ghosts = [`@_mx_dave=3ac2m.test:${HUB}`, `@_mx_dave=3ac2m.test:${SECOND}`];
    const joined = async () => Object.keys((await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(lm)}/joined_members`)).joined);
    const before = await joined();
    expect(ghosts.filter((g) => before.includes(g))).toEqual(ghosts);
    await dave.leave(mx);
    await eventually(async () => {
      const now = await joined();
      return ghosts.every((g) => !now.includes(g)) || undefined;
    }, "both of dave's ghosts gone from the LM room");
    await dave.join(mx, HUB);
    await eventually(async () => ((await joined()).includes(ghosts[0]!) ? true : undefined), "dave's hub ghost back in the LM room");
  });

  it("carries 100 encrypted messages from each side through both converters: every ciphertext exactly once in each room on every server, none converted back", async () => {
    const fromLm = Array.from({ length: 100 }, (_, i) => fresh(`lm-${i}`));
    const fromMx = Array.from({ length: 100 }, (_, i) => fresh(`mx-${i}`));
    const sendAll = async (client: TestClient, roomId: string, cts: string[]) => {
      for (let i = 0; i < cts.length; i += 10) await Promise.all(cts.slice(i, i + 10).map((ct) => sendEncrypted(client, roomId, ct)));
    };
    const started = Date.now();
    await Promise.all([sendAll(carol, lm, fromLm), sendAll(dave, mx, fromMx)]);
    const all = [...fromLm, ...fromMx];
    await eventually(async () => {
      for (const { counts } of await countsEverywhere(all)) if (counts.size < all.length) return undefined;
      return true;
    }, "all 200 ciphertexts in both rooms on every server", 120_000);
    const settledMs = Date.now() - started;
    // Both converters race for each Matrix message; give a late second copy time to show, then count.
    await new Promise((r) => setTimeout(r, 3_000));
    await expectOnceEverywhere(all);
    // The Matrix side's messages in the LM room came through one converter or the other, never both.
    const bySecond = (await storedEvents(hub, lm)).filter((e) => fromMx.includes(e.pdu.content["ciphertext"] as string) && e.pdu.sender.endsWith(`:${SECOND}`)).length;
    console.log(`200 messages settled on 6 replicas in ${settledMs} ms; ${bySecond} of the Matrix side's 100 entered the LM room through ${SECOND}, ${100 - bySecond} through ${HUB}`);
    // L -> D -> L: c2s.test holds the hub's Matrix copies of carol's messages and converts none back.
    const lmOrigin = (await storedEvents(hub, lm)).filter((e) => fromLm.includes(e.pdu.content["ciphertext"] as string));
    expect(lmOrigin.every((e) => e.pdu.content["io.switchboard.provenance"] === undefined)).toBe(true);
  }, 240_000);

  it("answers a converted-back copy (L -> D -> L) from a named converter as the LM event it started from: not stored, not failed", async () => {
    const ct = fresh("loop");
    const { event_id: original } = await sendEncrypted(carol, lm, ct);
    const [mxCopy] = await eventually(async () => {
      const found = await withCiphertext(second, mx, ct);
      return found.length > 0 ? found : undefined;
    }, "the hub's Matrix copy on the second converter's server");
    // What a converter without the loop rule would send: the Matrix copy, converted back into the LM room.
    const content = convertedContent(mxCopy!.pdu as unknown as Pdu, mxCopy!.event_id, mx, ROOM_VERSION_12);
    const back = await buildLpdu({ room_id: lm, type: "m.room.encrypted", sender: `@_switchboard:${SECOND}`, origin_server_ts: Date.now(), content }, await keyOf(second), HUB);
    const answer = await sendTxn(second, hub, [back]);
    expect(answer.status).toBe(200);
    expect(answer.body.failed_pdus ?? {}).toEqual({});
    await new Promise((r) => setTimeout(r, 500));
    for (const [server, roomId] of lmRooms) expect((await withCiphertext(server, roomId, ct)).map((e) => e.event_id)).toEqual([original]);
  });

  it("refuses in the LM room a provenance copy from a server the pairing does not name", async () => {
    const ct = fresh("unnamed-lm");
    await sendEncrypted(dave, mx, ct);
    const [copy] = await eventually(async () => {
      const found = await withCiphertext(hub, lm, ct);
      return found.length > 0 ? found : undefined;
    }, "dave's message in the LM room");
    const lpdu = await buildLpdu({ room_id: lm, type: "m.room.encrypted", sender: carol.userId, origin_server_ts: Date.now(), content: copy!.pdu.content as JsonObject }, await keyOf(part), HUB);
    const answer = await sendTxn(part, hub, [lpdu]);
    const id = await lpduIdOf(lpdu);
    expect(Object.keys(answer.body.failed_pdus ?? {})).toEqual([id]);
    expect(answer.body.failed_pdus?.[id]?.error).toContain("not a converter");
    for (const [server, roomId] of lmRooms) expect(await withCiphertext(server, roomId, ct)).toHaveLength(1);
  });

  it("soft-fails in the Matrix room a provenance copy from a server the pairing does not name: not shown twice, not converted", async () => {
    const ct = fresh("unnamed-mx");
    await sendEncrypted(carol, lm, ct);
    const [hubCopy] = await eventually(async () => {
      const found = await withCiphertext(mesh, mx, ct);
      return found.length > 0 ? found : undefined;
    }, "the hub's copy of carol's message on the full-mesh server");
    // c2m.test, not named by the pairing, writes a second copy of its own into the Matrix room.
    const tips = (await storedEvents(mesh, mx)).slice(-1).map((e) => ({ eventId: e.event_id, depth: e.pdu["depth"] as number }));
    const rogue = await forgeEvent(mesh, mesh, mx, "12", { type: "m.room.encrypted", sender: dave.userId, content: hubCopy!.pdu.content as JsonObject }, tips);
    // A full-mesh room cannot refuse it: both servers take it (no failed PDU) ...
    expect(await sendPdus(mesh, hub, [rogue.pdu])).toEqual({});
    expect(await sendPdus(mesh, second, [rogue.pdu])).toEqual({});
    await new Promise((r) => setTimeout(r, 1_000));
    for (const [client, server] of [[alice, hub], [erin, second]] as const) {
      // ... but it is not on their timelines, so clients see the message once ...
      expect((await withCiphertext(server, mx, ct)).map((e) => e.event_id)).toEqual([hubCopy!.event_id]);
      const page = await client.request<{ chunk: Array<{ event_id: string; content: Record<string, unknown> }> }>("GET", `/rooms/${enc(mx)}/messages?dir=b&limit=50`);
      expect(page.chunk.filter((e) => e.content["ciphertext"] === ct).map((e) => e.event_id)).toEqual([hubCopy!.event_id]);
    }
    // ... and no converter carried it into the LM room.
    for (const [server, roomId] of lmRooms) expect(await withCiphertext(server, roomId, ct)).toHaveLength(1);
  });
});
