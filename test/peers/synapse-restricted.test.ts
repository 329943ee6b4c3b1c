// Restricted v12 rooms across Switchboard and a real Synapse, each side hosting once. A user of the
// other server who is in the allowed ("parent") room joins without an invite: the join names a user
// of the hosting server as authoriser and carries that server's signature, and both servers agree
// on it. A user outside the parent room is refused.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signatureKeyIds } from "../../shared/signed-json.js";
import { stateOf } from "../federation/forge.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { ApiError, startPeerPair, User, type Homeserver } from "./peer.js";
import { createRoom, hasMembership, join, send, seen, syncPosition } from "./rooms.js";

const VIA = "join_authorised_via_users_server";
const enc = encodeURIComponent;

function restrictedTo(parent: string) {
  return [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: parent }] } }];
}

async function memberContent(u: User, roomId: string, userId: string): Promise<Record<string, unknown>> {
  return u.request("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`);
}

async function refusedStatus(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e.status;
    throw e;
  }
  throw new Error("expected the join to be refused");
}

describe("restricted v12 rooms across Switchboard and Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: User; // on Synapse
  let bob: User; // on Switchboard

  beforeAll(async () => {
    ({ syn, sb, alice, bob } = await startPeerPair(9, "restricted"));
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  it("Switchboard hosts: a Synapse user in the allowed room joins, authorised by a Switchboard user and signed by Switchboard; an outsider is refused", async () => {
    const parent = await createRoom(bob, { room_version: "12", preset: "public_chat", name: "parent on Switchboard" });
    const roomId = await createRoom(bob, { room_version: "12", preset: "private_chat", initial_state: restrictedTo(parent) });
    await join(alice, parent, sb.name);
    await join(alice, roomId, sb.name);
    await hasMembership(bob, roomId, alice.userId, "join");
    await hasMembership(alice, roomId, bob.userId, "join");
    expect((await memberContent(bob, roomId, alice.userId))[VIA]).toBe(bob.userId);
    expect((await memberContent(alice, roomId, alice.userId))[VIA]).toBe(bob.userId);
    const stored = (await stateOf(sb, roomId)).get(`m.room.member\u0000${alice.userId}`)?.pdu;
    expect([signatureKeyIds(stored, sb.name).length > 0, signatureKeyIds(stored, syn.name).length > 0]).toEqual([true, true]);
    // The room works: a message from the Synapse user reaches Switchboard.
    const position = await syncPosition(bob);
    const t0 = Date.now();
    await seen(bob, roomId, await send(alice, roomId, "joined by the parent room"), position, t0);

    const outsider = await User.register(syn, `outsider-${Date.now().toString(36)}`);
    expect(await refusedStatus(join(outsider, roomId, sb.name))).toBe(403);
  });

  it("Synapse hosts: a Switchboard user in the allowed room joins, and keeps the join as Synapse signed it", async () => {
    const parent = await createRoom(alice, { room_version: "12", preset: "public_chat", name: "parent on Synapse" });
    const roomId = await createRoom(alice, { room_version: "12", preset: "private_chat", initial_state: restrictedTo(parent) });
    const outsider = await User.register(sb, `outsider-${Date.now().toString(36)}`);
    expect(await refusedStatus(join(outsider, roomId, syn.name))).toBe(403);

    await join(bob, parent, syn.name);
    await join(bob, roomId, syn.name);
    await hasMembership(alice, roomId, bob.userId, "join");
    await hasMembership(bob, roomId, alice.userId, "join");
    expect((await memberContent(alice, roomId, bob.userId))[VIA]).toBe(alice.userId);
    const stored = (await stateOf(sb, roomId)).get(`m.room.member\u0000${bob.userId}`)?.pdu;
    expect(stored?.content[VIA]).toBe(alice.userId);
    expect([signatureKeyIds(stored, sb.name).length > 0, signatureKeyIds(stored, syn.name).length > 0]).toEqual([true, true]);
    const position = await syncPosition(alice);
    const t0 = Date.now();
    await seen(alice, roomId, await send(bob, roomId, "joined by the parent room"), position, t0);
  });
});
