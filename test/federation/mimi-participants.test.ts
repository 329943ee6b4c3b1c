// Issue 17's participant list with real ts-mls clients against three real servers: hub.test hosts an
// MLS room whose group names the hub as external sender; p1.test takes part through LM (carol, erin);
// f1.test is a MIMI follower (bob). Every membership change, from LM or from MIMI, makes the hub
// propose the participant-list change (and Removes for a departed user's devices); no commit is
// accepted without those proposals, and the departed user's devices get nothing readable after it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { HUB_PROPOSALS_EVENT } from "../../durable-objects/room/mls-hub-fanout.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { awaitFanout, catchUpView, commitViaView, fanouts, MIMI_CLIENT, openView, addParticipant } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";
import { BINDINGS, mlsStatusOf, pairMimiPeers, participantListUpdateOf, participantsIn, refusal } from "./mimi-participants-support.js";
import { MlsDevice } from "../support/mls-client.js";
import { encodeHubExternalSender, hubExternalSender, participantListProposal } from "../../shared/mls-hub-proposals.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import type { ParticipantListUpdate } from "../../shared/mimi/participant-list.js";

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

describe("the hub proposes the participant list as the MLS group's external sender", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test
  let dave: MlsMember; // hub.test
  let carol: MlsMember; // p1.test, LM
  let erin: MlsMember; // p1.test, LM, stays to watch
  let bob: MlsMember; // f1.test, MIMI follower
  let roomId: string;
  let viewId: string;
  let lastCommit: string;
  /** Every participant-list proposal so far, in order: the list a client rebuilds from them. */
  const listHistory: Array<string | ParticipantListUpdate> = [];

  async function hubSender(): Promise<{ external_sender: string; installed: boolean; pending_proposals: string[] }> {
    const res = await hub.fetch(`${MIMI_CLIENT}/rooms/${encodeURIComponent(roomId)}/external_sender`, { headers: { authorization: `Bearer ${alice.client.accessToken}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { external_sender: string; installed: boolean; pending_proposals: string[] };
  }

  const mlsStatus = (on: TestServer = hub) => mlsStatusOf(on, roomId);

  /** The hub's proposals as `m`'s device received them by to-device, for the group's epoch `epoch`. */
  async function proposalsTo(m: MlsMember, epoch: number): Promise<string[]> {
    const e = await m.receive((x) => x.type === HUB_PROPOSALS_EVENT && x.content["room_id"] === roomId && x.content["epoch"] === epoch, `the hub's proposals for epoch ${epoch}`);
    return e.content["proposals"] as string[];
  }

  /** p1's roster (LM participant) once it has taken the hub's commit `eventId`: it must equal the hub's. */
  async function participantInStep(eventId: string): Promise<void> {
    await eventually(async () => ((await erin.client.timeline(roomId)).some((e) => e.event_id === eventId) ? true : undefined), "the commit on p1");
    const [onHub, onP1] = [await mlsStatus(), await mlsStatus(p1)];
    expect(onP1).not.toBeNull();
    expect(onP1).toEqual(onHub);
  }

  async function onHub(message: string): Promise<string> {
    return (await eventually(async () => (await alice.client.timeline(roomId)).find((e) => e.content["message"] === message), "the commit on the hub")).event_id;
  }

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "f1.test"], { bindings: BINDINGS });
    [hub, p1, f1] = servers as [TestServer, TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    dave = await MlsMember.register(hub, "dave", "DAVE");
    carol = await MlsMember.register(p1, "carol", "CAROL");
    erin = await MlsMember.register(p1, "erin", "ERIN");
    bob = await MlsMember.register(f1, "bob", "BOB");
    for (const m of [alice, dave, carol, erin, bob]) await m.publish(2);
    await pairMimiPeers(hub, f1);
  });
  afterAll(() => stopServers(servers));

  it("installs the hub's key with the commit after the establishing one, then refuses a commit without the hub's participant-list proposals", async () => {
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    for (const m of [carol, erin, dave]) {
      await alice.client.invite(roomId, m.userId);
      await m.client.join(roomId, hub.name);
    }
    const before = await hubSender();
    expect(before).toMatchObject({ installed: false, pending_proposals: [] });

    await alice.mls.createGroup(roomId);
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit()); // establishes the group (with an UpdatePath)
    const stranger = encodeHubExternalSender(hubExternalSender("elsewhere.test", (await signingKeyFromSeed(generateSeed(), "mls")).publicKey));
    const foreign = await alice.mls.commit({ extra: [MlsDevice.installExternalSender(stranger)] });
    expect(await refusal(alice.sendCommit(roomId, foreign))).toMatchObject({ status: 403, mls_code: "foreign_external_sender" });
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit({ extra: [MlsDevice.installExternalSender(decodeBase64(before.external_sender))] }));
    const after = await hubSender();
    expect(after.installed).toBe(true);
    expect(after.pending_proposals).toHaveLength(1);
    const [listProposal] = await proposalsTo(alice, 2);
    expect(listProposal).toBe(after.pending_proposals[0]);
    listHistory.push(listProposal as string);
    expect(new Set(participantsIn(listHistory))).toEqual(new Set([alice, dave, carol, erin].map((m) => m.userId)));
    // Only now may the room take a MIMI participant: the hub proposes bob's addition like any join.
    await addParticipant(alice, roomId, bob.userId);
    viewId = await openView(bob, roomId);
    const bobsJoin = (await hubSender()).pending_proposals[1] as string;
    listHistory.push(bobsJoin);
    expect(new Set(participantsIn(listHistory))).toEqual(new Set([alice, dave, carol, erin, bob].map((m) => m.userId)));
    await awaitFanout(bob, viewId, bobsJoin); // followers get it by notify

    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: Object.fromEntries([carol, erin, dave, bob].map((m) => [m.userId, { [m.deviceId]: KEY_PACKAGE_ALGORITHM }])),
    });
    const packages = [carol, erin, dave, bob].map((m) => Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {})[0] as string);
    const omitting = await alice.mls.commit({ add: packages });
    expect(await refusal(alice.sendCommit(roomId, omitting))).toMatchObject({ status: 403, errcode: "M_FORBIDDEN", mls_code: "missing_hub_proposals", current_epoch: 2 });

    for (const p of [listProposal as string, bobsJoin]) await alice.mls.processProposal(p);
    const add = await alice.mls.commit({ add: packages });
    lastCommit = await alice.sendCommit(roomId, add);
    expect((await hubSender()).pending_proposals).toEqual([]);
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: lastCommit, room_id: roomId };
    await alice.sendToDevice("m.room.encrypted", Object.fromEntries([carol, erin, dave, bob].map((m) => [m.userId, { [m.deviceId]: welcome }])));
    for (const m of [carol, erin, dave]) await m.mls.join((await m.receive(isWelcomeFor(lastCommit), "the Welcome")).content["ciphertext"] as string);
    await awaitFanout(bob, viewId, add.welcome as string); // a follower's user gets it by notify
    await bob.mls.join(add.welcome as string);
    expect(await mlsStatus()).toMatchObject({ epoch: 3, members: 5, pending: 0 });
    await participantInStep(lastCommit); // p1 resolved the reference to the hub's list proposal
  });

  it("removes a participant over MIMI: a follower's commit with the list removal kicks the user as the power levels allow", async () => {
    const index = participantsIn(listHistory).indexOf(dave.userId);
    const listUpdate = { changedRoleParticipants: [], removedIndices: [index], addedParticipants: [] };
    const removeDave = async () => bob.mls.commit({ remove: [bob.mls.leafOf(dave.userId, dave.deviceId) as number], extra: [participantListProposal(listUpdate)] });
    const daveState = () => alice.client.request<{ membership: string }>("GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(dave.userId)}`);

    expect(await refusal(commitViaView(bob, viewId, await removeDave()))).toMatchObject({ status: 403, mimi_code: "notAllowed" }); // bob may not kick yet
    const keepsClient = await bob.mls.commit({ extra: [participantListProposal(listUpdate)] });
    expect(await refusal(commitViaView(bob, viewId, keepsClient))).toMatchObject({ status: 403, mimi_code: "invalidProposal" });
    expect(await daveState()).toMatchObject({ membership: "join" });
    expect(await mlsStatus()).toMatchObject({ epoch: 3, members: 5, pending: 0 });

    const levels = await alice.client.request<{ users?: Record<string, number> }>("GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`);
    await alice.client.setState(roomId, "m.room.power_levels", "", { ...levels, users: { ...levels.users, [bob.userId]: 50 } });
    const [bobsRole] = (await hubSender()).pending_proposals; // bob's role is now 50 (mimi-roles.test.ts)
    await awaitFanout(bob, viewId, bobsRole as string);
    await bob.mls.processProposal(bobsRole as string);
    listHistory.push(bobsRole as string);
    // Over LM the same change by value is refused: there, membership events change the list.
    await alice.mls.processProposal(bobsRole as string);
    const overLm = await alice.mls.commit({ extra: [participantListProposal(listUpdate)] }); // the roster alone would take it
    expect(await refusal(alice.sendCommit(roomId, overLm))).toMatchObject({ status: 403, mls_code: "participant_list_by_value" });
    expect(await daveState()).toMatchObject({ membership: "join" });
    const removal = await removeDave();
    await commitViaView(bob, viewId, removal);
    lastCommit = await onHub(removal.message);
    expect(await daveState()).toMatchObject({ membership: "leave" });
    const kick = await eventually(async () => (await erin.client.timeline(roomId)).find((e) => e.type === "m.room.member" && e.state_key === dave.userId && e.content["membership"] === "leave"), "dave's removal on p1");
    expect(kick.sender).toBe(bob.userId); // LM participants see bob's kick
    expect((await hubSender()).pending_proposals).toEqual([]); // the commit itself removed him
    expect(await mlsStatus()).toMatchObject({ epoch: 4, members: 4, pending: 0 });
    await participantInStep(lastCommit);
    listHistory.push(listUpdate);

    const fromDave = await refusal(dave.send(roomId, "m.room.encrypted", await dave.encrypted("still here?", lastCommit)));
    expect(fromDave).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    for (const m of [carol, erin]) await m.mls.processProposal(bobsRole as string);
    for (const m of [alice, carol, erin]) await m.catchUpTo(roomId, lastCommit);
    const text = await alice.mls.encrypt("after dave left");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: lastCommit });
    await awaitFanout(bob, viewId, text);
    for (const m of [bob, carol, erin]) expect(await m.mls.decrypt(text)).toBe("after dave left");
  });

  it("after an LM kick proposes the list change and the Removes, refuses messages and commits without them, then everyone left decrypts", async () => {
    await alice.client.kick(roomId, carol.userId);
    const pending = (await hubSender()).pending_proposals;
    expect(pending).toHaveLength(2); // the participant list, and the Remove of carol's one device
    for (const m of [alice, erin]) expect(await proposalsTo(m, 4)).toEqual(pending);
    for (const p of pending) await awaitFanout(bob, viewId, p);
    listHistory.push(pending[0] as string);
    expect(new Set(participantsIn(listHistory))).toEqual(new Set([alice, erin, bob].map((m) => m.userId)));

    const blocked = await refusal(bob.send(viewId, "m.room.encrypted", { ciphertext: await bob.mls.encrypt("blocked") }));
    expect(blocked).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    const omitting = await bob.mls.commit({ remove: [bob.mls.leafOf(carol.userId, carol.deviceId) as number] });
    const refused = await refusal(commitViaView(bob, viewId, omitting));
    expect(refused).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(String(refused["error"])).toContain("pending proposal");
    expect(await mlsStatus()).toMatchObject({ epoch: 4, pending: 1 });

    for (const p of pending) await alice.mls.processProposal(p);
    const removal = await alice.mls.commit();
    lastCommit = await alice.sendCommit(roomId, removal);
    expect(alice.mls.leafOf(carol.userId, carol.deviceId)).toBeUndefined();
    expect(await mlsStatus()).toMatchObject({ epoch: 5, members: 3, pending: 0 });
    await participantInStep(lastCommit); // the hub's Remove of carol, resolved on p1 from the carried proposals

    for (const m of [erin]) {
      for (const p of pending) await m.mls.processProposal(p);
      await m.catchUpTo(roomId, lastCommit);
    }
    for (const f of await fanouts(bob, viewId)) if (pending.includes(f.message)) await bob.mls.processProposal(f.message);
    await awaitFanout(bob, viewId, removal.message);
    await catchUpView(bob, viewId);
    expect([erin, bob].map((m) => m.mls.epoch)).toEqual([5, 5]);
    const text = await bob.mls.encrypt("after carol left");
    await bob.send(viewId, "m.room.encrypted", { ciphertext: text });
    for (const m of [alice, erin]) expect(await m.mls.decrypt(text)).toBe("after carol left");
    expect(await onHub(removal.message)).toBe(lastCommit);
  });

  it("proposes the list addition for a join and the removal with Removes for a ban; each gates the next commit; the hub cannot be dropped", async () => {
    const frank = await MlsMember.register(hub, "frank", "FRANK");
    await alice.client.invite(roomId, frank.userId);
    expect((await hubSender()).pending_proposals).toEqual([]); // an invite changes no participant
    await frank.client.join(roomId);
    const [joinProposal, ...rest] = (await hubSender()).pending_proposals;
    expect(rest).toEqual([]); // a join has no Remove
    expect(await proposalsTo(alice, 5)).toEqual([joinProposal]);
    listHistory.push(joinProposal as string);
    expect(participantsIn(listHistory)).toContain(frank.userId);
    expect(await refusal(alice.sendCommit(roomId, await alice.mls.commit()))).toMatchObject({ mls_code: "missing_hub_proposals" });
    await alice.mls.processProposal(joinProposal as string);
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit());
    await participantInStep(lastCommit);

    await alice.client.ban(roomId, erin.userId);
    const banned = (await hubSender()).pending_proposals;
    expect(banned).toHaveLength(2);
    expect(await proposalsTo(alice, 6)).toEqual(banned);
    listHistory.push(banned[0] as string);
    expect(participantsIn(listHistory)).not.toContain(erin.userId);
    const blocked = await refusal(alice.send(roomId, "m.room.encrypted", await alice.encrypted("blocked", lastCommit)));
    expect(blocked).toMatchObject({ status: 403, mls_code: "pending_removals" });
    for (const p of banned) await alice.mls.processProposal(p);
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit());
    expect(alice.mls.leafOf(erin.userId, erin.deviceId)).toBeUndefined();
    expect(await mlsStatus()).toMatchObject({ epoch: 7, members: 2, pending: 0 });
    const dropHub = await alice.mls.commit({ extra: [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } }] });
    expect(await refusal(alice.sendCommit(roomId, dropHub))).toMatchObject({ status: 403, mls_code: "external_sender_removed" });
  });

  it("changes a user at most once per commit: a leave in the epoch of the join waits, and the next epoch's proposal removes them", async () => {
    const gus = await MlsMember.register(hub, "gus", "GUS");
    await alice.client.invite(roomId, gus.userId);
    await gus.client.join(roomId, hub.name);
    const [join] = (await hubSender()).pending_proposals;
    expect(participantListUpdateOf(join as string)?.addedParticipants).toHaveLength(1);
    await gus.client.leave(roomId);
    // -06 §7.5: a commit may not add and remove gus; the removal waits for the epoch after.
    expect((await hubSender()).pending_proposals).toEqual([join]);
    listHistory.push(join as string);

    await alice.mls.processProposal(join as string);
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit());
    const owed = (await hubSender()).pending_proposals;
    expect(owed).toHaveLength(1);
    const update = participantListUpdateOf(owed[0] as string);
    expect(update).toEqual({ changedRoleParticipants: [], removedIndices: [participantsIn(listHistory).indexOf(gus.userId)], addedParticipants: [] });
    expect(await proposalsTo(alice, 8)).toEqual(owed);
    expect(await refusal(alice.sendCommit(roomId, await alice.mls.commit()))).toMatchObject({ mls_code: "missing_hub_proposals", current_epoch: 8 });

    listHistory.push(owed[0] as string);
    await alice.mls.processProposal(owed[0] as string);
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit());
    expect((await hubSender()).pending_proposals).toEqual([]);
    expect(participantsIn(listHistory)).not.toContain(gus.userId);
    expect(await mlsStatus()).toMatchObject({ epoch: 9, pending: 0 });
  });
});
