// Two live converters against a real Synapse: the Switchboard hub's converter and a second
// Switchboard's, both named by the pairing and joined to the hub's LM room and its paired Matrix v12
// room, which a Synapse user joins. Messages from the LM participant and from Synapse cross both
// ways; every ciphertext shows exactly once in each room, on every Switchboard server and on
// Synapse, and none of the hub's copies is converted back into the LM room.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { storedEvents } from "../federation/client.js";
import { marker } from "../federation/forge.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { eventually, synapse, startSwitchboards, User, type Homeserver } from "./peer.js";
import { createRoom, join, timeline } from "./rooms.js";
import { adminPost, pairPublic } from "../federation/converter-setup.js";

const PER_SIDE = 50;
const enc = encodeURIComponent;

describe("two live converters between an LM room and a Matrix room that a Synapse user is in", () => {
  let syn: Homeserver;
  let servers: TestServer[] = [];
  let hub: TestServer;
  let second: TestServer;
  let part: TestServer;
  let alice: User; // on the hub, owns the LM room
  let carol: User; // on the LM participant
  let sam: User; // on Synapse
  let lm: string;
  let mx: string;

  beforeAll(async () => {
    syn = synapse();
    servers = await startSwitchboards(syn, [10, 11, 12]);
    [hub, second, part] = servers as [TestServer, TestServer, TestServer];
    const tag = Date.now().toString(36);
    [alice, carol, sam] = await Promise.all([User.register(hub, `alice-two-${tag}`), User.register(part, `carol-two-${tag}`), User.register(syn, `sam-two-${tag}`)]);
  });
  afterAll(async () => {
    if (servers.length) await stopServers(servers);
  });

  it("pairs the rooms, names the second Switchboard as a converter in both, and both converters' service users and the Synapse user join", async () => {
    lm = await createRoom(alice, { room_version: LM_ROOM_VERSION_ID, preset: "public_chat" });
    await join(carol, lm, hub.name);
    mx = await pairPublic(hub, lm, alice.userId);
    await join(sam, mx, hub.name);
    expect(await adminPost(hub, `/_switchboard/admin/v1/rooms/${enc(lm)}/pair/converters`, { user_id: alice.userId, server: second.name })).toMatchObject({ status: 200, body: { converters: [hub.name, second.name] } });
    expect(await adminPost(second, `/_switchboard/admin/v1/rooms/${enc(lm)}/converter/join`, { via: hub.name })).toEqual({ status: 200, body: { room_id: lm, peer_room_ids: [mx] } });
    // Synapse holds the pair event naming both converters, and sees the second converter's service user joined.
    await eventually("the pair event naming both converters on Synapse", async () => {
      const pair = await sam.request<{ converters?: string[] }>("GET", `/rooms/${enc(mx)}/state/io.switchboard.pair/${enc(lm)}`);
      return JSON.stringify(pair.converters) === JSON.stringify([hub.name, second.name]) || undefined;
    });
    await eventually("the second converter's service user joined on Synapse", async () => {
      const joined = await sam.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(mx)}/joined_members`);
      return `@_switchboard:${second.name}` in joined.joined || undefined;
    });
  });

  it(`carries ${PER_SIDE} encrypted messages from each side: every ciphertext exactly once in each room on every server, Synapse included`, async () => {
    const fresh = (side: string, i: number) => Buffer.from(`${side}-${i}-${marker("ct")}`).toString("base64").replace(/=+$/, "");
    const fromLm = Array.from({ length: PER_SIDE }, (_, i) => fresh("lm", i));
    const fromMx = Array.from({ length: PER_SIDE }, (_, i) => fresh("mx", i));
    const sendAll = async (u: User, roomId: string, cts: string[]) => {
      for (let i = 0; i < cts.length; i += 5) {
        await Promise.all(cts.slice(i, i + 5).map((ciphertext) => u.request("PUT", `/rooms/${enc(roomId)}/send/m.room.encrypted/${u.nextTxn()}`, { algorithm: "m.megolm.v1.aes-sha2", ciphertext, session_id: "s", sender_key: "k", device_id: u.deviceId })));
      }
    };
    await Promise.all([sendAll(carol, lm, fromLm), sendAll(sam, mx, fromMx)]);
    const all = new Set([...fromLm, ...fromMx]);
    const cts = (contents: Array<Record<string, unknown>>) => contents.map((c) => c["ciphertext"]).filter((c): c is string => typeof c === "string" && all.has(c));
    const views: Array<[string, () => Promise<string[]>]> = [
      ...[hub, second, part].map((s): [string, () => Promise<string[]>] => [`LM room on ${s.name}`, async () => cts((await storedEvents(s, lm)).map((e) => e.pdu.content))]),
      ...[hub, second].map((s): [string, () => Promise<string[]>] => [`Matrix room on ${s.name}`, async () => cts((await storedEvents(s, mx)).map((e) => e.pdu.content))]),
      [`Matrix room on Synapse`, async () => cts((await timeline(sam, mx)).map((e) => e.content))],
    ];
    await eventually("every ciphertext in both rooms on every server", async () => {
      for (const [, read] of views) if (new Set(await read()).size < all.size) return undefined;
      return true;
    }, 120_000);
    // A late second copy would show by now.
    await new Promise((r) => setTimeout(r, 3_000));
    for (const [where, read] of views) {
      const held = await read();
      expect({ where, held: held.length, distinct: new Set(held).size }).toEqual({ where, held: all.size, distinct: all.size });
    }
    // L -> D -> L: the LM participant's messages are in the LM room once, as sent, never a converted copy.
    const carols = (await storedEvents(hub, lm)).filter((e) => fromLm.includes(e.pdu.content["ciphertext"] as string));
    expect(carols).toHaveLength(PER_SIDE);
    expect(carols.every((e) => e.pdu.content[PROVENANCE_KEY] === undefined && e.pdu.sender === carol.userId)).toBe(true);
    const bySecond = (await storedEvents(hub, lm)).filter((e) => fromMx.includes(e.pdu.content["ciphertext"] as string) && e.pdu.sender.endsWith(`:${second.name}`)).length;
    console.info(`Synapse's ${PER_SIDE} messages entered the LM room through ${second.name}: ${bySecond}, through ${hub.name}: ${PER_SIDE - bySecond}`);
  }, 240_000);
});
