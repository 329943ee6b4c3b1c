// Issue 17's standalone Add and Update by reference, and several proposals per MIMI update (a client
// batches them through its follower with `more_proposals`), with real ts-mls clients against three
// real servers: hub.test hosts the MLS room (alice, and her second device
// ALICE2 to be added), p1.test takes part through LM (carol), f1.test is a MIMI follower (bob). The hub
// checks each proposal, holds a batch whole or not at all, and requires what it holds in the next
// commit; an LM member's commit including them adds the device (which joins from its Welcome) and
// installs bob's new leaf, and p1 resolves both from the carried proposals to keep the hub's roster.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { HUB_PROPOSALS_EVENT } from "../../durable-objects/room/mls-hub-fanout.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { awaitFanout, catchUpView, commitViaView, fanouts, MIMI_CLIENT, mimiGroupWithFollower } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";
import { BINDINGS, FP, mlsStatusOf, pairMimiPeers, refusal } from "./mimi-participants-support.js";
import { decodeMessage, MlsDevice } from "../support/mls-client.js";
import { decodeUpdateRoomResponse, encodeUpdateRequest, mlsMessageField } from "../../shared/mimi/index.js";
import { MIMI_STAND_IN_HEADER } from "../../shared/mimi/peer-credential.js";

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

describe("members' standalone Adds and Updates, several per MIMI update", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test
  let alice2: MlsMember; // hub.test, alice's second device, added by bob's proposal
  let carol: MlsMember; // p1.test, LM
  let bob: MlsMember; // f1.test, MIMI follower
  let roomId: string;
  let viewId: string;
  let lastCommit: string;
  let alice2KeyPackage: string;

  async function pendingOnHub(): Promise<string[]> {
    const res = await hub.fetch(`${MIMI_CLIENT}/rooms/${encodeURIComponent(roomId)}/external_sender`, { headers: { authorization: `Bearer ${alice.client.accessToken}` } });
    return ((await res.json()) as { pending_proposals: string[] }).pending_proposals;
  }

  const mlsStatus = (on: TestServer) => mlsStatusOf(on, roomId);

  async function claimKeyPackage(m: MlsMember): Promise<string> {
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", { one_time_keys: { [m.userId]: { [m.deviceId]: KEY_PACKAGE_ALGORITHM } } });
    return Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {})[0] as string;
  }

  /** f1.test's `update` to the hub carrying these proposals as `proposal` and `moreProposals`. */
  async function updateWith(messages: string[]) {
    const [first, ...more] = messages.map((m) => mlsMessageField(decodeMessage(m)));
    const body = encodeUpdateRequest({ kind: "proposal", proposalOrCommit: first!, moreProposals: more });
    const res = await hub.fetch(`/mimi/v1/update/${encodeURIComponent(roomId)}`, { method: "POST", headers: { "content-type": "application/octet-stream", [MIMI_STAND_IN_HEADER]: FP }, body });
    expect(res.status).toBe(200);
    const answer = decodeUpdateRoomResponse(new Uint8Array(await res.arrayBuffer()));
    if (!answer.ok) throw new Error("malformed UpdateRoomResponse");
    return answer.value;
  }

  const proposeViaView = (message: string) => bob.send(viewId, "m.mls.commit", { message });

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "f1.test"], { bindings: BINDINGS });
    [hub, p1, f1] = servers as [TestServer, TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    carol = await MlsMember.register(p1, "carol", "CAROL");
    bob = await MlsMember.register(f1, "bob", "BOB");
    for (const m of [alice, carol, bob]) await m.publish(2);
    alice2 = await MlsMember.login(hub, "alice", "ALICE2");
    await alice2.publish(1);
    await pairMimiPeers(hub, f1);
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    await alice.client.invite(roomId, carol.userId);
    await carol.client.join(roomId, hub.name);

    // The group, the hub as external sender, bob as MIMI participant, and everyone added with the hub's list proposals.
    ({ viewId, installCommit: lastCommit } = await mimiGroupWithFollower(alice, bob, roomId));
    const add = await alice.mls.commit({ add: [await claimKeyPackage(carol), await claimKeyPackage(bob)] });
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
    alice2KeyPackage = await claimKeyPackage(alice2);
    expect(await mlsStatus(hub)).toMatchObject({ epoch: 4, members: 3, pending: 0 });
  });
  afterAll(() => stopServers(servers));

  it("holds nothing from a batch with one bad proposal, and refuses forged Updates and an Add of a device without its published key", async () => {
    const addAlice2 = await bob.mls.propose({ proposalType: "add", add: { keyPackage: keyPackageOf(alice2KeyPackage) } });
    const removeAlice = await bob.mls.propose({ proposalType: "remove", remove: { removed: bob.mls.leafOf(alice.userId, alice.deviceId) as number } });
    const batch = await updateWith([addAlice2, removeAlice]);
    expect(batch).toMatchObject({ responseCode: "invalidProposal" });
    expect(batch.errorDescription).toContain("proposal 1");
    expect(await pendingOnHub()).toEqual([]);

    const badLeaf = await bob.mls.proposeUpdate((leaf) => {
      leaf.signature[0] = (leaf.signature[0] as number) ^ 0x01;
    });
    const leafAnswer = await updateWith([badLeaf]);
    expect(leafAnswer).toMatchObject({ responseCode: "invalidProposal" });
    expect(leafAnswer.errorDescription).toContain("LeafNode's signature");

    const tampered = decodeBase64(await bob.mls.proposeUpdate());
    const at = tampered.length - 33 - 20; // inside the message signature, before the 32-byte membership tag
    tampered[at] = (tampered[at] as number) ^ 0x01;
    const forged = await refusal(proposeViaView(encodeBase64(tampered)));
    expect(forged).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(String(forged["error"])).toContain("signature");

    // A KeyPackage in carol's name whose signature key is not her device's published one.
    const impostor = await MlsDevice.create(carol.userId, carol.deviceId);
    const addImpostor = await bob.mls.propose({ proposalType: "add", add: { keyPackage: keyPackageOf(await impostor.keyPackage()) } });
    expect(await refusal(proposeViaView(addImpostor))).toMatchObject({ status: 403, mimi_code: "invalidProposal" });
    // A device already in the group.
    const again = await bob.mls.propose({ proposalType: "add", add: { keyPackage: keyPackageOf(await claimKeyPackage(carol)) } });
    const member = await updateWith([again]);
    expect(member).toMatchObject({ responseCode: "invalidProposal" });
    expect(member.errorDescription).toContain("already a member");
    expect(await pendingOnHub()).toEqual([]);
  });

  it("holds an Update and an Add sent in one update; an LM member's commit including both adds the device, which decrypts, and installs the new leaf; p1 keeps the hub's roster", async () => {
    const update = await bob.mls.proposeUpdate();
    const add = await bob.mls.propose({ proposalType: "add", add: { keyPackage: keyPackageOf(alice2KeyPackage) } });
    // bob's client sends both as one batch through f1, which forwards them as one update and records both in the view.
    expect(await refusal(bob.send(viewId, "m.mls.commit", { message: update, more_proposals: [add, 7] }))).toMatchObject({ status: 400, errcode: "M_BAD_JSON" });
    await bob.send(viewId, "m.mls.commit", { message: update, more_proposals: [add] });
    expect(await pendingOnHub()).toEqual([update, add]);
    const recorded = (await fanouts(bob, viewId)).map((f) => f.message);
    expect(recorded.slice(-2)).toEqual([update, add]);
    // A repeat of an already held proposal is refused: the next commit could not include it twice.
    expect(await updateWith([add])).toMatchObject({ responseCode: "invalidProposal" });

    const sent = await carol.receive((x) => x.type === HUB_PROPOSALS_EVENT && x.content["room_id"] === roomId && x.content["epoch"] === 4, "proposals for epoch 4");
    expect(sent.content["proposals"]).toEqual([update, add]);
    for (const p of [update, add]) await carol.mls.processProposal(p);
    const commit = await carol.mls.commit();
    lastCommit = await carol.sendCommit(roomId, commit);
    await carol.sendToDevice("m.room.encrypted", { [alice.userId]: { [alice2.deviceId]: { algorithm: WELCOME_ALGORITHM, ciphertext: commit.welcome, commit_event_id: lastCommit, room_id: roomId } } });
    await alice2.mls.join((await alice2.receive(isWelcomeFor(lastCommit), "the Welcome")).content["ciphertext"] as string);
    expect(await pendingOnHub()).toEqual([]);
    await eventually(async () => ((await mlsStatus(hub))?.epoch === 5 ? true : undefined), "epoch 5 on the hub");
    expect(await mlsStatus(hub)).toMatchObject({ epoch: 5, members: 4, pending: 0 });
    await eventually(async () => ((await mlsStatus(p1))?.epoch === 5 ? true : undefined), "epoch 5 on p1");
    expect(await mlsStatus(p1)).toEqual(await mlsStatus(hub)); // p1 resolved the member's Add and Update

    for (const p of [update, add]) await alice.mls.processProposal(p);
    await alice.catchUpTo(roomId, lastCommit);
    await awaitFanout(bob, viewId, commit.message);
    await catchUpView(bob, viewId); // bob's client takes the commit that installs his Update
    expect(bob.mls.epoch).toBe(5);
    const text = await carol.mls.encrypt("with alice's second device");
    await carol.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: lastCommit });
    for (const m of [alice2, alice, bob]) expect(await m.mls.decrypt(text)).toBe("with alice's second device");
  });

  it("stops requiring a held Add once its user leaves; a commit still including it is refused as an add of a user not joined", async () => {
    // The hub has no GroupInfo for the epoch carol's LM commit started: bob's MIMI commit brings one.
    const bobs = await bob.mls.commit();
    await commitViaView(bob, viewId, bobs);
    lastCommit = await eventually(async () => (await alice.client.timeline(roomId)).find((e) => e.content["message"] === bobs.message)?.event_id, "bob's commit on the hub");
    for (const m of [alice, alice2, carol]) await m.catchUpTo(roomId, lastCommit);

    const carol2 = await MlsMember.login(p1, "carol", "CAROL2");
    await carol2.publish(1);
    const addCarol2 = await bob.mls.propose({ proposalType: "add", add: { keyPackage: keyPackageOf(await claimKeyPackage(carol2)) } });
    await proposeViaView(addCarol2);
    expect(await pendingOnHub()).toEqual([addCarol2]);

    await carol.client.leave(roomId);
    const hubs = await eventually(async () => {
      const p = await pendingOnHub();
      return p.length > 0 && !p.includes(addCarol2) ? p : undefined;
    }, "carol's departure proposals without the lapsed Add");
    for (const p of hubs) await alice.mls.processProposal(p);
    const without = await alice.mls.commit();
    await alice.mls.processProposal(addCarol2);
    const withAdd = await alice.mls.commit();
    expect(await refusal(alice.sendCommit(roomId, withAdd))).toMatchObject({ status: 403, mls_code: "add_not_joined", current_epoch: 6 });
    lastCommit = await alice.sendCommit(roomId, without);
    expect(await mlsStatus(hub)).toMatchObject({ epoch: 7, members: 3, pending: 0 });
    expect(await pendingOnHub()).toEqual([]);
  });
});

function keyPackageOf(base64: string) {
  const m = decodeMessage(base64);
  if (m.wireformat !== "mls_key_package") throw new Error("not a KeyPackage");
  return m.keyPackage;
}
