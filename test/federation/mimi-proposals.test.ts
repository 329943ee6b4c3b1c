// Issue 17's standalone proposals with real ts-mls clients against three real servers: hub.test hosts an
// MLS room whose group names the hub as external sender; p1.test takes part through LM (carol); f1.test
// is a MIMI follower (bob). A member's Remove sent alone through MIMI `update` is checked by the hub
// (member, epoch, signature, a removal the roster will allow), held beside the hub's own proposals,
// fanned out like them, and required by reference in the next commit; LM participants resolve it too.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { HUB_PROPOSALS_EVENT } from "../../durable-objects/room/mls-hub-fanout.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { awaitFanout, commitViaView, groupInfoOverMimi, MIMI_CLIENT, mimiGroupWithFollower } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";
import { BINDINGS, FP, mlsStatusOf, pairMimiPeers, participantListUpdateOf, refusal } from "./mimi-participants-support.js";
import { decodeMessage } from "../support/mls-client.js";
import { decodeUpdateRoomResponse, encodeUpdateRequest, mlsMessageField } from "../../shared/mimi/index.js";
import { MIMI_STAND_IN_HEADER } from "../../shared/mimi/peer-credential.js";

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

describe("members' standalone proposals through MIMI update", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test
  let carol: MlsMember; // p1.test, LM
  let bob: MlsMember; // f1.test, MIMI follower
  let roomId: string;
  let viewId: string;
  let lastCommit: string;

  async function pendingOnHub(): Promise<string[]> {
    const res = await hub.fetch(`${MIMI_CLIENT}/rooms/${encodeURIComponent(roomId)}/external_sender`, { headers: { authorization: `Bearer ${alice.client.accessToken}` } });
    return ((await res.json()) as { pending_proposals: string[] }).pending_proposals;
  }

  const mlsStatus = (on: TestServer) => mlsStatusOf(on, roomId);

  async function proposalsTo(m: MlsMember, epoch: number): Promise<string[]> {
    const e = await m.receive((x) => x.type === HUB_PROPOSALS_EVENT && x.content["room_id"] === roomId && x.content["epoch"] === epoch, `proposals for epoch ${epoch}`);
    return e.content["proposals"] as string[];
  }

  /** Bob's client sends an MLS proposal into its view; the follower forwards it as an `update`. */
  const proposeViaView = (message: string) => bob.send(viewId, "m.mls.commit", { message });

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "f1.test"], { bindings: BINDINGS });
    [hub, p1, f1] = servers as [TestServer, TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    carol = await MlsMember.register(p1, "carol", "CAROL");
    bob = await MlsMember.register(f1, "bob", "BOB");
    for (const m of [alice, carol, bob]) await m.publish(2);
    await pairMimiPeers(hub, f1);
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    await alice.client.invite(roomId, carol.userId);
    await carol.client.join(roomId, hub.name);

    // The group, the hub as external sender, bob as MIMI participant, and everyone added with the hub's list proposals.
    ({ viewId } = await mimiGroupWithFollower(alice, bob, roomId));
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: Object.fromEntries([carol, bob].map((m) => [m.userId, { [m.deviceId]: KEY_PACKAGE_ALGORITHM }])),
    });
    const add = await alice.mls.commit({ add: [carol, bob].map((m) => Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {})[0] as string) });
    lastCommit = await alice.sendCommit(roomId, add);
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: lastCommit, room_id: roomId };
    await alice.sendToDevice("m.room.encrypted", Object.fromEntries([carol, bob].map((m) => [m.userId, { [m.deviceId]: welcome }])));
    await carol.mls.join((await carol.receive(isWelcomeFor(lastCommit), "the Welcome")).content["ciphertext"] as string);
    await awaitFanout(bob, viewId, add.welcome as string); // a follower's user gets it by notify
    await bob.mls.join(add.welcome as string);
    // Bob commits over MIMI with the new epoch's GroupInfo: the hub reads GroupContexts from it.
    const bobs = await bob.mls.commit();
    await commitViaView(bob, viewId, bobs);
    lastCommit = await eventually(async () => (await alice.client.timeline(roomId)).find((e) => e.content["message"] === bobs.message)?.event_id, "bob's commit on the hub");
    for (const m of [alice, carol]) await m.catchUpTo(roomId, lastCommit);
    expect(await mlsStatus(hub)).toMatchObject({ epoch: 4, members: 3, pending: 0 });
  });
  afterAll(() => stopServers(servers));

  it("refuses a proposal it cannot hold: another joined user's removal, a bad signature, a proposal type it does not take, a batch repeating a removal", async () => {
    const others = await bob.mls.propose({ proposalType: "remove", remove: { removed: bob.mls.leafOf(alice.userId, alice.deviceId) as number } });
    expect(await refusal(proposeViaView(others))).toMatchObject({ status: 403, mimi_code: "invalidProposal" });

    const own = await bob.mls.propose({ proposalType: "remove", remove: { removed: bob.mls.leafOf(bob.userId, bob.deviceId) as number } });
    const tampered = decodeBase64(own);
    const at = tampered.length - 33 - 20; // inside the signature, before the 32-byte membership tag
    tampered[at] = (tampered[at] as number) ^ 0x01;
    const bad = await refusal(proposeViaView(encodeBase64(tampered)));
    expect(bad).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(String(bad["error"])).toContain("signature");

    const ext = await bob.mls.propose({ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } });
    expect(await refusal(proposeViaView(ext))).toMatchObject({ status: 403, mimi_code: "invalidProposal" });

    const two = encodeUpdateRequest({ kind: "proposal", proposalOrCommit: mlsMessageField(decodeMessage(own)), moreProposals: [mlsMessageField(decodeMessage(own))] });
    const res = await hub.fetch(`/mimi/v1/update/${encodeURIComponent(roomId)}`, { method: "POST", headers: { "content-type": "application/octet-stream", [MIMI_STAND_IN_HEADER]: FP }, body: two });
    const answer = decodeUpdateRoomResponse(new Uint8Array(await res.arrayBuffer()));
    expect(answer.ok && answer.value).toMatchObject({ responseCode: "invalidProposal", errorDescription: expect.stringContaining("proposal 1: leaf") }); // held all or none
    expect(await pendingOnHub()).toEqual([]);
  });

  it("holds a member's own Remove, fans it out, lists it in groupInfo, requires it by reference beside a kick's list removal (no second Remove), and LM participants follow the roster", async () => {
    const own = await bob.mls.propose({ proposalType: "remove", remove: { removed: bob.mls.leafOf(bob.userId, bob.deviceId) as number } });
    await proposeViaView(own);
    expect(await pendingOnHub()).toEqual([own]);
    for (const m of [alice, carol]) expect(await proposalsTo(m, 4)).toEqual([own]); // to-device, here and on the LM server
    await awaitFanout(bob, viewId, own); // recorded in the proposer's view from the hub's answer
    const info = await groupInfoOverMimi(bob, roomId); // groupInfo lists what the next commit must include
    expect(info.tbe?.pendingProposals.map((p) => encodeBase64(p.proposal.bytes))).toEqual([own]);
    expect(Number(info.tbe?.pendingProposals[0]?.hubAcceptedTime)).toBeGreaterThan(Date.now() - 60_000);

    // Bob is kicked meanwhile: the hub proposes his list removal but no second Remove of the leaf his own proposal removes.
    await alice.client.kick(roomId, bob.userId);
    const pending = await pendingOnHub();
    expect(pending).toHaveLength(2);
    expect(pending[0]).toBe(own);
    expect(participantListUpdateOf(pending[1] as string)).toMatchObject({ removedIndices: [2] });

    const omitting = await alice.mls.commit();
    expect(await refusal(alice.sendCommit(roomId, omitting))).toMatchObject({ status: 403, mls_code: "missing_hub_proposals", current_epoch: 4 });
    for (const p of pending) await alice.mls.processProposal(p);
    const removal = await alice.mls.commit();
    lastCommit = await alice.sendCommit(roomId, removal);
    expect(alice.mls.leafOf(bob.userId, bob.deviceId)).toBeUndefined();
    expect(await pendingOnHub()).toEqual([]); // the epoch moved: nothing of epoch 4 is held
    expect(await mlsStatus(hub)).toMatchObject({ epoch: 5, members: 2, pending: 0 });

    for (const p of pending) await carol.mls.processProposal(p);
    await carol.catchUpTo(roomId, lastCommit);
    expect(carol.mls.epoch).toBe(5);
    expect(await mlsStatus(p1)).toEqual(await mlsStatus(hub)); // p1 resolved the member's Remove from the carried proposals

    // Bob is gone, so his provider sends the stale proposal to the hub itself: its epoch has passed.
    const stale = encodeUpdateRequest({ kind: "proposal", proposalOrCommit: mlsMessageField(decodeMessage(own)), moreProposals: [] });
    const res = await hub.fetch(`/mimi/v1/update/${encodeURIComponent(roomId)}`, { method: "POST", headers: { "content-type": "application/octet-stream", [MIMI_STAND_IN_HEADER]: FP }, body: stale });
    const answer = decodeUpdateRoomResponse(new Uint8Array(await res.arrayBuffer()));
    expect(answer.ok && answer.value).toMatchObject({ responseCode: "wrongEpoch", currentEpoch: 5n });
    expect(await pendingOnHub()).toEqual([]);
    const text = await alice.mls.encrypt("after bob's device left");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: lastCommit });
    expect(await carol.mls.decrypt(text)).toBe("after bob's device left");
  });
});
