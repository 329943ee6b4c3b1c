// The converter against a real Synapse: a Switchboard hub hosts an LM room with a user on a second
// Switchboard server (the LM participant); the hub pairs it (admin API) with a Matrix v12 room that a
// Synapse user joins. Messages cross both ways, each visible on the other side's /sync within a
// second and in the hub's LM order everywhere; an m.room.encrypted event (Megolm-shaped ciphertext,
// no real session: the ghosts have no devices to share keys with) crosses both ways byte for byte;
// the provenance block of the copy Synapse returns passes the independent check; and leaving on
// either side removes the ghost on the other.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { checkProvenance } from "../../shared/converter/provenance-check.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import { ghostUserId } from "../../shared/converter/ghost-user.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { storedEvents } from "../federation/client.js";
import { keyOf, marker } from "../federation/forge.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { synapse, startSwitchboards, User, type Homeserver } from "./peer.js";
import { createRoom, hasMembership, join, send, syncPosition, timeline, type ClientEvent } from "./rooms.js";
import { pairPublic } from "../federation/converter-setup.js";

/** The most a message may take to show on the other side's /sync. */
const VISIBLE_WITHIN_MS = 1_000;
const MEGOLM = "m.megolm.v1.aes-sha2";
const enc = encodeURIComponent;

describe("an LM participant and a Synapse user in one conversation through a Switchboard hub", () => {
  let syn: Homeserver;
  let servers: TestServer[] = [];
  let hub: TestServer;
  let part: TestServer;
  let alice: User; // on the hub, pairs the room
  let carol: User; // on the LM participant
  let sam: User; // on Synapse
  let lm: string;
  let mx: string;
  let keys: KeyLookup;

  beforeAll(async () => {
    syn = synapse();
    servers = await startSwitchboards(syn, [4, 5]);
    [hub, part] = servers as [TestServer, TestServer];
    const tag = Date.now().toString(36);
    [alice, carol, sam] = await Promise.all([User.register(hub, `alice-conv-${tag}`), User.register(part, `carol-conv-${tag}`), User.register(syn, `sam-conv-${tag}`)]);
    const byServer = new Map(await Promise.all(servers.map(async (s) => [s.name, await keyOf(s)] as const)));
    // Synapse's keys as its own key endpoint publishes them.
    const synKeys = (await (await syn.fetch("/_matrix/key/v2/server")).json()) as { verify_keys: Record<string, { key: string }> };
    keys = async (server, keyId) => {
      if (server === syn.name) {
        const k = synKeys.verify_keys[keyId];
        return k ? decodeBase64(k.key) : undefined;
      }
      const k = byServer.get(server);
      return k && k.keyId === keyId ? k.publicKey : undefined;
    };
  });

  afterAll(async () => {
    if (servers.length) await stopServers(servers);
  });

  const lmGhost = (u: User) => ghostUserId("lm", u.userId, hub.name) as string;
  const mxGhost = (u: User) => ghostUserId("mx", u.userId, hub.name) as string;

  it("pairs the hub's LM room with a v12 room that the Synapse user joins; each side sees the other's user as a ghost of the hub", async () => {
    lm = await createRoom(alice, { room_version: LM_ROOM_VERSION_ID, preset: "public_chat" });
    await join(carol, lm, hub.name);
    mx = await pairPublic(hub, lm, alice.userId);
    await join(sam, mx, hub.name);
    await hasMembership(sam, mx, lmGhost(carol), "join");
    await hasMembership(carol, lm, mxGhost(sam), "join");
  });

  it("carries messages both ways, each on the other side's /sync within 1 s, in the hub's LM order on all three servers", async () => {
    const lags: number[] = [];
    const marks: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (const [from, to, fromRoom, toRoom] of [
        [carol, sam, lm, mx],
        [sam, carol, mx, lm],
      ] as const) {
        const mark = marker(`${from === carol ? "lm" : "mx"}-${i}`);
        marks.push(mark);
        const position = await syncPosition(to);
        const t0 = Date.now();
        await send(from, fromRoom, mark);
        // The copy has its own event ID: find it by its body on the receiving server's /sync.
        lags.push(await seenBody(to, toRoom, mark, position, t0));
      }
    }
    console.info(`LM participant <-> Synapse through the converter, ms: ${lags.join(", ")}`);
    expect(Math.max(...lags), `lags ${lags.join(", ")} ms`).toBeLessThanOrEqual(VISIBLE_WITHIN_MS);

    const bodies = (t: ClientEvent[]) => t.map((e) => e.content["body"]).filter((b): b is string => typeof b === "string" && marks.includes(b));
    const hubOrder = (await storedEvents(hub, lm)).map((e) => e.pdu.content["body"]).filter((b): b is string => typeof b === "string" && marks.includes(b));
    expect(hubOrder).toEqual(marks);
    expect(bodies(await timeline(carol, lm))).toEqual(hubOrder);
    expect(bodies(await timeline(sam, mx))).toEqual(hubOrder);
    // Each message exactly once on each side.
    for (const t of [await timeline(carol, lm), await timeline(sam, mx)]) expect(bodies(t)).toHaveLength(marks.length);
  });

  it("carries an m.room.encrypted event from the LM participant to Synapse with its ciphertext byte-identical on all three servers, and Synapse's copy passes the provenance check", async () => {
    const ciphertext = Buffer.from(marker("megolm-from-lm")).toString("base64").replace(/=+$/, "");
    const position = await syncPosition(sam);
    const lmId = (await carol.request<{ event_id: string }>("PUT", `/rooms/${enc(lm)}/send/m.room.encrypted/${carol.nextTxn()}`, { algorithm: MEGOLM, ciphertext, session_id: "lm-session", sender_key: "lm-key", device_id: carol.deviceId })).event_id;
    const copy = await encryptedOnSync(sam, mx, ciphertext, position);
    expect(copy.sender).toBe(lmGhost(carol));

    const onSynapse = await sam.request<ClientEvent>("GET", `/rooms/${enc(mx)}/event/${enc(copy.event_id)}`);
    const onPart = await carol.request<ClientEvent>("GET", `/rooms/${enc(lm)}/event/${enc(lmId)}`);
    const onHub = [...(await storedEvents(hub, lm)), ...(await storedEvents(hub, mx))].filter((e) => e.pdu.content["ciphertext"] === ciphertext);
    expect(onHub).toHaveLength(2);
    for (const c of [onSynapse.content, onPart.content, ...onHub.map((e) => e.pdu.content)]) expect(c["ciphertext"]).toBe(ciphertext);

    expect(onSynapse.content[PROVENANCE_KEY]).toMatchObject({ room_id: lm, event_id: lmId, room_version: LM_ROOM_VERSION_ID });
    // From Synapse's copy alone: the LM event rebuilt, its ID recomputed, the hub's and the participant's signatures verified.
    const check = await checkProvenance({ type: onSynapse.type, content: onSynapse.content as JsonObject }, keys);
    expect(check).toMatchObject({ ok: true });
  });

  it("carries an m.room.encrypted event from the Synapse user to the LM participant with its ciphertext byte-identical on all three servers, provenance verifying against Synapse's key", async () => {
    const ciphertext = Buffer.from(marker("megolm-from-mx")).toString("base64").replace(/=+$/, "");
    const position = await syncPosition(carol);
    const mxId = (await sam.request<{ event_id: string }>("PUT", `/rooms/${enc(mx)}/send/m.room.encrypted/${sam.nextTxn()}`, { algorithm: MEGOLM, ciphertext, session_id: "mx-session", sender_key: "mx-key", device_id: sam.deviceId })).event_id;
    const copy = await encryptedOnSync(carol, lm, ciphertext, position);
    expect(copy.sender).toBe(mxGhost(sam));

    const onSynapse = await sam.request<ClientEvent>("GET", `/rooms/${enc(mx)}/event/${enc(mxId)}`);
    const onHub = [...(await storedEvents(hub, lm)), ...(await storedEvents(hub, mx))].filter((e) => e.pdu.content["ciphertext"] === ciphertext);
    expect(onHub).toHaveLength(2);
    for (const c of [onSynapse.content, copy.content, ...onHub.map((e) => e.pdu.content)]) expect(c["ciphertext"]).toBe(ciphertext);
    expect(copy.content[PROVENANCE_KEY]).toMatchObject({ room_id: mx, event_id: mxId, room_version: "12" });
    expect(await checkProvenance({ type: copy.type, content: copy.content as JsonObject }, keys)).toMatchObject({ ok: true });
  });

  it("removes the LM participant's ghost from the Matrix room on Synapse when they leave, and the Synapse user's ghost from the LM room when they leave", async () => {
    await carol.request("POST", `/rooms/${enc(lm)}/leave`, {});
    await hasMembership(sam, mx, lmGhost(carol), "leave");
    await sam.request("POST", `/rooms/${enc(mx)}/leave`, {});
    await hasMembership(alice, lm, mxGhost(sam), "leave");
  });
});

type SyncBody = { next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: ClientEvent[] } }> } };

/** Long-polls `u`'s /sync from `position` until an event matching `match` arrives in the room. */
async function onSync(u: User, roomId: string, what: string, match: (e: ClientEvent) => boolean, position: string, ms = 20_000): Promise<ClientEvent> {
  let since = position;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const s = await u.request<SyncBody>("GET", `/sync?timeout=1000&since=${enc(since)}`);
    const found = (s.rooms?.join?.[roomId]?.timeline?.events ?? []).find(match);
    if (found) return found;
    since = s.next_batch;
  }
  throw new Error(`${what} did not reach ${u.userId}'s /sync within ${ms} ms`);
}

async function seenBody(u: User, roomId: string, body: string, position: string, t0: number): Promise<number> {
  await onSync(u, roomId, `"${body}"`, (e) => e.content["body"] === body, position);
  return Date.now() - t0;
}

function encryptedOnSync(u: User, roomId: string, ciphertext: string, position: string): Promise<ClientEvent> {
  return onSync(u, roomId, "the encrypted event", (e) => e.type === "m.room.encrypted" && e.content["ciphertext"] === ciphertext, position);
}
