// Participant roles from power levels (MIMI -06 §7.5; docs/mimi.md "Participant list") with real ts-mls
// clients on two real servers: hub.test hosts an MLS room whose group names the hub as external
// sender, f1.test is a MIMI follower (bob). The role index is the user's power level: installation and
// joins carry it, and a power-levels change that changes a participant's role makes the hub propose a
// changedRoleParticipants update that the next commit must include.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { HUB_PROPOSALS_EVENT } from "../../durable-objects/room/mls-hub-fanout.js";
import { userIdOfUri } from "../../shared/mimi-identifiers.js";
import { applyParticipantListUpdate, type ParticipantListData } from "../../shared/mimi/participant-list.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { addParticipant, awaitFanout, catchUpView, commitViaView, fanouts, MIMI_CLIENT, openView } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";
import { ADMIN, BINDINGS, pairMimiPeers, participantListUpdateOf, refusal } from "./mimi-participants-support.js";
import { decodeMessage, MlsDevice } from "../support/mls-client.js";
import { participantListProposal } from "../../shared/mls-hub-proposals.js";

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

type Roles = Record<string, number>;

/** The participant list a client rebuilds by applying, in order, the participant-list proposals among `messages`. */
function clientList(messages: string[]): Roles {
  let list: ParticipantListData = { participants: [] };
  for (const m of messages) {
    const msg = decodeMessage(m);
    if (msg.wireformat !== "mls_public_message" || msg.publicMessage.content.contentType !== "proposal") continue;
    const update = participantListUpdateOf(m);
    if (!update) continue;
    const next = applyParticipantListUpdate(list, update);
    if (!next.ok) throw new Error(next.reason);
    list = next.list;
  }
  return Object.fromEntries(list.participants.map((p) => [userIdOfUri(p.user) ?? p.user, p.roleIndex]));
}

describe("participant roles follow the room's power levels", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test, 100
  let dave: MlsMember; // hub.test, 50
  let frank: MlsMember; // hub.test, joins later
  let bob: MlsMember; // f1.test, MIMI follower
  let roomId: string;
  let viewId: string;
  /** Every hub proposal alice's device received, in order. */
  const toAlice: string[] = [];
  /** The install's list proposal: bob's provider became a follower after it, so his view starts with the join that added him. */
  let installProposal = "";

  async function hubSender(): Promise<{ external_sender: string; installed: boolean; pending_proposals: string[]; participants: Array<{ user_id: string; role_index: number }> }> {
    const res = await hub.fetch(`${MIMI_CLIENT}/rooms/${encodeURIComponent(roomId)}/external_sender`, { headers: { authorization: `Bearer ${alice.client.accessToken}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { external_sender: string; installed: boolean; pending_proposals: string[]; participants: Array<{ user_id: string; role_index: number }> };
  }

  const hubList = async (): Promise<Roles> => Object.fromEntries((await hubSender()).participants.map((p) => [p.user_id, p.role_index]));

  async function proposalsTo(m: MlsMember, epoch: number): Promise<string[]> {
    const e = await m.receive((x) => x.type === HUB_PROPOSALS_EVENT && x.content["room_id"] === roomId && x.content["epoch"] === epoch, `the hub's proposals for epoch ${epoch}`);
    return e.content["proposals"] as string[];
  }

  async function mlsEpoch(): Promise<number | undefined> {
    const res = await hub.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/mls`, { headers: ADMIN });
    return ((await res.json()) as { roster: { epoch: number } | null }).roster?.epoch;
  }

  const levelsNow = () => alice.client.request<Record<string, unknown>>("GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`);

  async function setLevels(users: Record<string, number>, events: Record<string, number> = {}): Promise<void> {
    const levels = await levelsNow();
    await alice.client.setState(roomId, "m.room.power_levels", "", { ...levels, users: { ...(levels["users"] as Roles), ...users }, events: { ...(levels["events"] as Roles), ...events } });
  }

  beforeAll(async () => {
    servers = await startServers(["hub.test", "f1.test"], { bindings: BINDINGS });
    [hub, f1] = servers as [TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    dave = await MlsMember.register(hub, "dave", "DAVE");
    frank = await MlsMember.register(hub, "frank", "FRANK");
    bob = await MlsMember.register(f1, "bob", "BOB");
    for (const m of [alice, dave, bob]) await m.publish(2);
    await pairMimiPeers(hub, f1);
  });
  afterAll(() => stopServers(servers));

  it("installation lists every joined user with the role index of their power level (users, else users_default); a MIMI user's join carries theirs", async () => {
    ({ room_id: roomId } = await alice.client.createRoom({
      creation_content: { encryption: { algorithm: ROOM_ALGORITHM } },
      power_level_content_override: { users: { [alice.userId]: 100, [dave.userId]: 50 }, users_default: 5 },
    }));
    await alice.client.invite(roomId, dave.userId);
    await dave.client.join(roomId, hub.name);
    const before = await hubSender();

    // The hub must be the group's external sender before a MIMI user can be added.
    await alice.mls.createGroup(roomId);
    await alice.sendCommit(roomId, await alice.mls.commit());
    await alice.sendCommit(roomId, await alice.mls.commit({ extra: [MlsDevice.installExternalSender(decodeBase64(before.external_sender))] }));
    const installedList = { [alice.userId]: 100, [dave.userId]: 50 };
    expect(await hubList()).toEqual(installedList);
    const [install] = await proposalsTo(alice, 2);
    toAlice.push(install as string);
    installProposal = install as string;
    expect(clientList(toAlice)).toEqual(installedList);

    await addParticipant(alice, roomId, bob.userId);
    viewId = await openView(bob, roomId);
    const expected = { ...installedList, [bob.userId]: 5 };
    expect(await hubList()).toEqual(expected);
    const pending = (await hubSender()).pending_proposals;
    expect(pending[0]).toBe(install);
    const join = pending[1] as string;
    toAlice.push(join);
    expect(clientList(toAlice)).toEqual(expected);
    await awaitFanout(bob, viewId, join);
    expect(clientList([join])).toEqual({ [bob.userId]: 5 });

    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: Object.fromEntries([dave, bob].map((m) => [m.userId, { [m.deviceId]: KEY_PACKAGE_ALGORITHM }])),
    });
    const packages = [dave, bob].map((m) => Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {})[0] as string);
    for (const p of pending) await alice.mls.processProposal(p);
    const add = await alice.mls.commit({ add: packages });
    const added = await alice.sendCommit(roomId, add);
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: added, room_id: roomId };
    await alice.sendToDevice("m.room.encrypted", Object.fromEntries([dave, bob].map((m) => [m.userId, { [m.deviceId]: welcome }])));
    await dave.mls.join((await dave.receive(isWelcomeFor(added), "the Welcome")).content["ciphertext"] as string);
    await awaitFanout(bob, viewId, add.welcome as string); // a follower's user gets it by notify
    await bob.mls.join(add.welcome as string);
    expect(await mlsEpoch()).toBe(3);
  });

  it("a power-levels change for a non-participant proposes nothing; their join then carries the role they were given", async () => {
    await setLevels({ [frank.userId]: 20 });
    expect((await hubSender()).pending_proposals).toEqual([]);
    await alice.client.invite(roomId, frank.userId);
    await frank.client.join(roomId);
    const [join, ...rest] = (await hubSender()).pending_proposals;
    expect(rest).toEqual([]);
    expect(participantListUpdateOf(join as string)?.addedParticipants).toEqual([{ user: expect.stringContaining("frank"), roleIndex: 20 }]);
    expect(await proposalsTo(alice, 3)).toEqual([join]);
    toAlice.push(join as string);
    expect(clientList(toAlice)[frank.userId]).toBe(20);
    expect((await hubList())[frank.userId]).toBe(20);

    await alice.mls.processProposal(join as string);
    const commit = await alice.mls.commit();
    await alice.sendCommit(roomId, commit);
    await awaitFanout(bob, viewId, join as string);
    await bob.mls.processProposal(join as string);
    await awaitFanout(bob, viewId, commit.message);
    await catchUpView(bob, viewId);
    expect(bob.mls.epoch).toBe(4);
  });

  it("a power-levels change proposes the participants' new roles; a commit without it is refused, one with it is accepted", async () => {
    await setLevels({ [dave.userId]: 75, [bob.userId]: 10 });
    const pending = (await hubSender()).pending_proposals;
    expect(pending).toHaveLength(1);
    const order = Object.keys(clientList(toAlice));
    expect(participantListUpdateOf(pending[0] as string)).toEqual({
      changedRoleParticipants: [
        { userIndex: order.indexOf(dave.userId), roleIndex: 75 },
        { userIndex: order.indexOf(bob.userId), roleIndex: 10 },
      ],
      removedIndices: [],
      addedParticipants: [],
    });
    expect(await proposalsTo(alice, 4)).toEqual(pending);
    toAlice.push(pending[0] as string);
    await awaitFanout(bob, viewId, pending[0] as string);

    // Over LM and over MIMI, a commit that leaves the role change out is refused.
    expect(await refusal(alice.sendCommit(roomId, await alice.mls.commit()))).toMatchObject({ status: 403, mls_code: "missing_hub_proposals", current_epoch: 4 });
    expect(await refusal(commitViaView(bob, viewId, await bob.mls.commit()))).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(await mlsEpoch()).toBe(4);

    await bob.mls.processProposal(pending[0] as string);
    const commit = await bob.mls.commit();
    await commitViaView(bob, viewId, commit);
    expect(await mlsEpoch()).toBe(5);
    expect((await hubSender()).pending_proposals).toEqual([]);

    const expected = { [alice.userId]: 100, [dave.userId]: 75, [bob.userId]: 10, [frank.userId]: 20 };
    expect(await hubList()).toEqual(expected);
    expect(clientList(toAlice)).toEqual(expected);
    expect(clientList([installProposal, ...(await fanouts(bob, viewId)).map((f) => f.message)])).toEqual(expected);
    await alice.mls.processProposal(pending[0] as string);
    await alice.catchUp(roomId);
    expect(alice.mls.epoch).toBe(5);
    const text = await alice.mls.encrypt("roles changed");
    expect(await bob.mls.decrypt(text)).toBe("roles changed");
  });

  it("a follower's commit that changes roles is written as the committer's power-levels change, and the auth rules decide", async () => {
    const order = Object.keys(clientList(toAlice));
    const frankTo = (role: number) => participantListProposal({ changedRoleParticipants: [{ userIndex: order.indexOf(frank.userId), roleIndex: role }], removedIndices: [], addedParticipants: [] });
    const frankLevel = async () => ((await levelsNow())["users"] as Roles)[frank.userId];

    // bob (10) may not send m.room.power_levels (100).
    const unprivileged = await refusal(commitViaView(bob, viewId, await bob.mls.commit({ extra: [frankTo(40)] })));
    expect(unprivileged).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(String(unprivileged["error"])).toContain("changing roles");
    expect(await frankLevel()).toBe(20);
    expect(await mlsEpoch()).toBe(5);

    await setLevels({ [bob.userId]: 60 }, { "m.room.power_levels": 50 });
    const [bobsRole, ...rest] = (await hubSender()).pending_proposals;
    expect(rest).toEqual([]);
    expect(participantListUpdateOf(bobsRole as string)?.changedRoleParticipants).toEqual([{ userIndex: order.indexOf(bob.userId), roleIndex: 60 }]);
    await awaitFanout(bob, viewId, bobsRole as string);
    await bob.mls.processProposal(bobsRole as string);
    await commitViaView(bob, viewId, await bob.mls.commit());
    expect(await mlsEpoch()).toBe(6);

    // Above bob's own level: the auth rules refuse it, nothing is written, the epoch stays.
    const tooHigh = await refusal(commitViaView(bob, viewId, await bob.mls.commit({ extra: [frankTo(70)] })));
    expect(tooHigh).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(String(tooHigh["error"])).toContain("changing roles");
    expect(await frankLevel()).toBe(20);
    expect(await mlsEpoch()).toBe(6);

    const change = await bob.mls.commit({ extra: [frankTo(40)] });
    await commitViaView(bob, viewId, change);
    expect(await mlsEpoch()).toBe(7);
    expect(await frankLevel()).toBe(40);
    const written = await alice.client.request<{ sender: string }[]>("GET", `/rooms/${encodeURIComponent(roomId)}/state`);
    expect(written.find((e) => (e as { type?: string }).type === "m.room.power_levels")?.sender).toBe(bob.userId);
    expect((await hubSender()).pending_proposals).toEqual([]); // the commit itself carries the change
    expect(await hubList()).toEqual({ [alice.userId]: 100, [dave.userId]: 75, [bob.userId]: 60, [frank.userId]: 40 });

    await alice.mls.processProposal(bobsRole as string);
    await eventually(async () => ((await alice.catchUp(roomId)) >= 0 && alice.mls.epoch === 7 ? true : undefined), "alice at epoch 7");
    expect(await bob.mls.decrypt(await alice.mls.encrypt("frank is 40"))).toBe("frank is 40");
  });

  it("a second role change for a user already changed in this epoch waits for the next epoch, so no commit touches a user twice", async () => {
    expect([alice.mls.epoch, bob.mls.epoch]).toEqual([7, 7]);
    const order = Object.keys(await hubList());

    await setLevels({ [dave.userId]: 30 });
    const [first] = (await hubSender()).pending_proposals;
    await setLevels({ [dave.userId]: 35, [frank.userId]: 45 });
    const [, second, ...none] = (await hubSender()).pending_proposals;
    expect(none).toEqual([]);
    expect(participantListUpdateOf(first as string)?.changedRoleParticipants).toEqual([{ userIndex: order.indexOf(dave.userId), roleIndex: 30 }]);
    expect(participantListUpdateOf(second as string)?.changedRoleParticipants).toEqual([{ userIndex: order.indexOf(frank.userId), roleIndex: 45 }]);
    expect((await hubList())[dave.userId]).toBe(30);

    for (const p of [first, second]) await alice.mls.processProposal(p as string);
    const commit = await alice.mls.commit();
    await alice.sendCommit(roomId, commit);
    const [deferred, ...more] = (await hubSender()).pending_proposals;
    expect(more).toEqual([]);
    expect(participantListUpdateOf(deferred as string)?.changedRoleParticipants).toEqual([{ userIndex: order.indexOf(dave.userId), roleIndex: 35 }]);
    expect(await proposalsTo(alice, 8)).toEqual([deferred]);
    expect(await hubList()).toEqual({ [alice.userId]: 100, [dave.userId]: 35, [bob.userId]: 60, [frank.userId]: 45 });

    // The follower gets the commit before the proposal for the epoch it starts.
    await awaitFanout(bob, viewId, deferred as string);
    const seen = (await fanouts(bob, viewId)).map((f) => f.message);
    expect(seen.indexOf(commit.message)).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf(commit.message)).toBeLessThan(seen.indexOf(deferred as string));
    expect(await refusal(alice.sendCommit(roomId, await alice.mls.commit()))).toMatchObject({ status: 403, mls_code: "missing_hub_proposals", current_epoch: 8 });

    for (const p of [first, second]) await bob.mls.processProposal(p as string);
    await catchUpView(bob, viewId);
    await bob.mls.processProposal(deferred as string);
    await commitViaView(bob, viewId, await bob.mls.commit());
    expect(await mlsEpoch()).toBe(9);
    expect((await hubSender()).pending_proposals).toEqual([]);
    const bobsList = clientList([installProposal, ...(await fanouts(bob, viewId)).map((f) => f.message)]);
    expect([bobsList[dave.userId], bobsList[frank.userId]]).toEqual([35, 45]);
  });
});
