// The protocol converter across real servers: an LM room on hub ch.test with a participant server
// (cp.test), paired through the admin API with a Matrix v12 room that a full-mesh server (cm.test)
// joins. Messages cross both ways exactly once, from ghosts of the hub; ciphertext arrives byte for
// byte; the provenance block of each copy verifies against the original servers' keys; a Matrix
// user's leave removes their ghost from the LM room.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { checkProvenance } from "../../shared/converter/provenance-check.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import type { SigningKey } from "../../shared/signing-key.js";
import { eventually, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { keyOf, lpduIdOf, marker, sendTxn } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { pairPublic } from "./converter-setup.js";

const HUB = "ch.test";
const CIPHERTEXT = "AwgBEiBjaXBoZXJ0ZXh0IGNyb3NzaW5nIGJ5dGUgZm9yIGJ5dGU";

describe("a converter between an LM room and a Matrix v12 room", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let part: TestServer;
  let mesh: TestServer;
  let alice: TestClient;
  let carol: TestClient;
  let dave: TestClient;
  let lm: string;
  let mx: string;
  let keys: KeyLookup;

  beforeAll(async () => {
    servers = await startServers([HUB, "cp.test", "cm.test"]);
    [hub, part, mesh] = servers as [TestServer, TestServer, TestServer];
    [alice, carol, dave] = await Promise.all([TestClient.register(hub, "alice"), TestClient.register(part, "carol"), TestClient.register(mesh, "dave")]);
    const byServer = new Map<string, SigningKey>(await Promise.all(servers.map(async (s) => [s.name, await keyOf(s)] as [string, SigningKey])));
    keys = async (server, keyId) => {
      const k = byServer.get(server);
      return k && k.keyId === keyId ? k.publicKey : undefined;
    };
  });
  afterAll(() => stopServers(servers));

  const copies = async (server: TestServer, roomId: string, mark: string): Promise<StoredPdu[]> =>
    (await storedEvents(server, roomId)).filter((e) => e.pdu.content["body"] === mark || e.pdu.content["ciphertext"] === mark);

  it("pairs the LM room through the admin API, and the Matrix server's user joins the new room", async () => {
    lm = (await alice.createRoom({ room_version: LM_ROOM_VERSION_ID, preset: "public_chat" })).room_id;
    await carol.join(lm, HUB);
    mx = await pairPublic(hub, lm, alice.userId);
    await dave.join(mx, HUB);
    // Carol was in the LM room before the pairing: her ghost is in the Matrix room, as cm.test sees it.
    await eventually(async () => {
      const joined = await dave.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${encodeURIComponent(mx)}/joined_members`);
      return `@_lm_carol=3acp.test:${HUB}` in joined.joined || undefined;
    }, "carol's ghost joined in the Matrix room on cm.test");
    // And dave's join reached the LM room as his ghost's join, as the participant sees it.
    await eventually(async () => {
      const joined = await carol.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${encodeURIComponent(lm)}/joined_members`);
      return `@_mx_dave=3acm.test:${HUB}` in joined.joined || undefined;
    }, "dave's ghost joined in the LM room on cp.test");
  });

  it("carries the LM participant's message to the Matrix server once, from a ghost, with provenance that verifies", async () => {
    const mark = marker("lm-to-mx");
    const lmId = await carol.send(lm, mark);
    const [onMesh] = await eventually(async () => {
      const found = await copies(mesh, mx, mark);
      return found.length > 0 ? found : undefined;
    }, "carol's message on cm.test");
    expect(onMesh?.pdu.sender).toBe(`@_lm_carol=3acp.test:${HUB}`);
    expect(onMesh?.pdu.content[PROVENANCE_KEY]).toMatchObject({ room_id: lm, event_id: lmId });
    // The hub's and carol's server's signatures, checked from the copy cm.test holds.
    expect(await checkProvenance(onMesh!.pdu as unknown as Pdu, keys)).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 500));
    expect(await copies(mesh, mx, mark)).toHaveLength(1);
    expect(await copies(hub, lm, mark)).toHaveLength(1);
    expect(await copies(part, lm, mark)).toHaveLength(1);
  });

  it("carries the Matrix user's message to the LM participant once, from a ghost, with provenance that verifies", async () => {
    const mark = marker("mx-to-lm");
    const mxId = await dave.send(mx, mark);
    const [onPart] = await eventually(async () => {
      const found = await copies(part, lm, mark);
      return found.length > 0 ? found : undefined;
    }, "dave's message on cp.test");
    expect(onPart?.pdu.sender).toBe(`@_mx_dave=3acm.test:${HUB}`);
    expect(onPart?.pdu.content[PROVENANCE_KEY]).toMatchObject({ room_id: mx, event_id: mxId, room_version: "12" });
    expect(await checkProvenance(onPart!.pdu as unknown as Pdu, keys)).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 500));
    expect(await copies(part, lm, mark)).toHaveLength(1);
    expect(await copies(mesh, mx, mark)).toHaveLength(1);
    expect(await copies(hub, mx, mark)).toHaveLength(1);
  });

  it("keeps ciphertext byte-identical on the participant, the hub and the Matrix server", async () => {
    await carol.request("PUT", `/rooms/${encodeURIComponent(lm)}/send/m.room.encrypted/enc1`, { algorithm: "m.megolm.v1.aes-sha2", ciphertext: CIPHERTEXT, session_id: "s", sender_key: "k", device_id: "D" });
    const onMesh = await eventually(async () => {
      const found = await copies(mesh, mx, CIPHERTEXT);
      return found.length > 0 ? found : undefined;
    }, "the encrypted event on cm.test");
    const all = [...(await copies(part, lm, CIPHERTEXT)), ...(await copies(hub, lm, CIPHERTEXT)), ...(await copies(hub, mx, CIPHERTEXT)), ...onMesh];
    expect(all).toHaveLength(4);
    for (const e of all) expect(e.pdu.content["ciphertext"]).toBe(CIPHERTEXT);
  });

  /** Carol's server sends, as a converter would, an LPDU whose content is `content`; returns its ID and the answer. */
  async function lpduFromParticipant(content: JsonObject): Promise<{ id: string; failed: Record<string, { error: string }> }> {
    const lpdu = await buildLpdu({ room_id: lm, type: "m.room.encrypted", sender: carol.userId, origin_server_ts: Date.now(), content }, await keyOf(part), HUB);
    const answer = await sendTxn(part, hub, [lpdu]);
    expect(answer.status).toBe(200);
    return { id: await lpduIdOf(lpdu), failed: answer.body.failed_pdus ?? {} };
  }

  it("refuses provenance-carrying events from a server the pairing does not name, and answers a named converter's second copy as a duplicate", async () => {
    const ciphertext = "AwgCEiBhbm90aGVyIGNpcGhlcnRleHQgZnJvbSB0aGUgTWF0cml4IHNpZGU";
    await dave.request("PUT", `/rooms/${encodeURIComponent(mx)}/send/m.room.encrypted/enc2`, { algorithm: "m.megolm.v1.aes-sha2", ciphertext, session_id: "s", sender_key: "k", device_id: "E" });
    const [copy] = await eventually(async () => {
      const found = await copies(hub, lm, ciphertext);
      return found.length > 0 ? found : undefined;
    }, "dave's encrypted message in the LM room on the hub");
    const content = copy!.pdu.content as JsonObject;

    const unnamed = await lpduFromParticipant(content);
    expect(Object.keys(unnamed.failed)).toEqual([unnamed.id]);
    expect(unnamed.failed[unnamed.id]?.error).toContain("not a converter");

    // Name cp.test as a second converter of the pairing: its copy is now a replay, answered without a failure.
    await alice.setState(lm, "io.switchboard.pair", mx, { peer_room_version: "12", converters: [HUB, part.name] });
    const named = await lpduFromParticipant(content);
    expect(named.failed).toEqual({});
    await new Promise((r) => setTimeout(r, 500));
    for (const s of [hub, part]) expect(await copies(s, lm, ciphertext)).toHaveLength(1);
  });

  it("carries 100 encrypted messages each way: every ciphertext exactly once per room on every server, in the hub's order, and a second converter's replays add none", async () => {
    const fresh = (side: string, i: number) => Buffer.from(`${side}-${i}-${marker("ct")}`).toString("base64").replace(/=+$/, "");
    const fromLm = Array.from({ length: 100 }, (_, i) => fresh("lm", i));
    const fromMx = Array.from({ length: 100 }, (_, i) => fresh("mx", i));
    const sendAll = async (client: TestClient, roomId: string, cts: string[]) => {
      for (let i = 0; i < cts.length; i += 10) {
        await Promise.all(cts.slice(i, i + 10).map((ciphertext, j) => client.request("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/bulk${i + j}`, { algorithm: "m.megolm.v1.aes-sha2", ciphertext, session_id: "s", sender_key: "k", device_id: "D" })));
      }
    };
    await Promise.all([sendAll(carol, lm, fromLm), sendAll(dave, mx, fromMx)]);
    const ciphertexts = async (server: TestServer, roomId: string) => (await storedEvents(server, roomId)).map((e) => e.pdu.content["ciphertext"]).filter((c): c is string => typeof c === "string");
    const everything = new Set([...fromLm, ...fromMx]);
    const rooms: Array<[TestServer, string]> = [[hub, lm], [part, lm], [hub, mx], [mesh, mx]];
    await eventually(async () => {
      for (const [server, roomId] of rooms) {
        const held = new Set(await ciphertexts(server, roomId));
        if (![...everything].every((c) => held.has(c))) return undefined;
      }
      return true;
    }, "all 200 ciphertexts in both rooms on every server", 60_000);

    // The hub's LM order is the order the Matrix server sees carol's messages in.
    const lmOrder = (await ciphertexts(hub, lm)).filter((c) => fromLm.includes(c));
    const mxOrder = (await ciphertexts(mesh, mx)).filter((c) => fromLm.includes(c));
    expect(mxOrder).toEqual(lmOrder);

    // cp.test, named as a second converter, replays every copy of dave's messages into the LM room.
    const copiesInLm = (await storedEvents(hub, lm)).filter((e) => fromMx.includes(e.pdu.content["ciphertext"] as string));
    const partKey = await keyOf(part);
    const lpdus = await Promise.all(copiesInLm.map((e) => buildLpdu({ room_id: lm, type: "m.room.encrypted", sender: carol.userId, origin_server_ts: Date.now(), content: e.pdu.content as JsonObject }, partKey, HUB)));
    for (let i = 0; i < lpdus.length; i += 50) {
      const answer = await sendTxn(part, hub, lpdus.slice(i, i + 50));
      expect(answer.body.failed_pdus).toEqual({});
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (const [server, roomId] of rooms) {
      const counts = new Map<string, number>();
      for (const c of await ciphertexts(server, roomId)) if (everything.has(c)) counts.set(c, (counts.get(c) ?? 0) + 1);
      expect(counts.size).toBe(200);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    }
  }, 180_000);

  it("removes the LM participant's ghost from the Matrix room when they leave the LM room", async () => {
    await carol.leave(lm);
    await eventually(async () => {
      const members = (await storedEvents(mesh, mx)).filter((e) => e.pdu.type === "m.room.member" && e.pdu["state_key"] === `@_lm_carol=3acp.test:${HUB}`);
      return members.at(-1)?.pdu.content["membership"] === "leave" || undefined;
    }, "carol's ghost left the Matrix room on cm.test");
  });

  it("removes the Matrix user's ghost from the LM room when they leave the Matrix room", async () => {
    await dave.leave(mx);
    await eventually(async () => {
      const joined = await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${encodeURIComponent(lm)}/joined_members`);
      return !(`@_mx_dave=3acm.test:${HUB}` in joined.joined) || undefined;
    }, "dave's ghost gone from the LM room on the hub");
  });
});
