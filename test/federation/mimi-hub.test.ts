// Issue 17's MIMI scenario with real ts-mls clients against three real servers: hub.test hosts an
// MLS room as LM hub and MIMI hub; p1.test takes part through LM (carol); f1.test is a MIMI follower
// (bob), whose client uses the room through f1's view room. Key material claimed over MIMI, a commit
// with a Welcome through update, messages both ways with identical ciphertext on every path, stale
// commits and messages, a replayed notify, and an LM kick. Steps share one room and run in order; the
// group installs the hub as external sender first, so each membership change brings the hub's proposals.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64, decodeBase64 } from "../../shared/base64.js";
import { encodeNotifyBody, decodeMlsMessageField } from "../../shared/mimi/index.js";
import { MIMI_STAND_IN_HEADER } from "../../shared/mimi/peer-credential.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { ADMIN, BINDINGS, FP, mlsStatusOf, pairMimiPeers, refusal } from "./mimi-participants-support.js";
import { addParticipant, awaitFanout, catchUpView, claimOverMimi, commitViaView, fanouts, groupInfoOverMimi, hubExternalSender, installHub, openView } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

describe("one MLS room on a MIMI hub with an LM participant server and a MIMI follower", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test, LM client API
  let carol: MlsMember; // p1.test, LM participant
  let bob: MlsMember; // f1.test, MIMI follower
  let dave: MlsMember; // hub.test, added by bob over MIMI
  let roomId: string;
  let viewId: string;
  let lastCommit: string;
  /** The hub's proposals alice's device has taken (so her next commit includes them). */
  const taken = new Set<string>();

  /** The hub's pending proposals that `members` have not taken yet, taken by all of them. */
  async function takeHubProposals(...members: MlsMember[]): Promise<string[]> {
    const fresh = (await hubExternalSender(alice, roomId)).pending_proposals.filter((p) => !taken.has(p));
    for (const p of fresh) {
      for (const m of members) await m.mls.processProposal(p);
      taken.add(p);
    }
    return fresh;
  }

  /** The content of `eventId` as `reader`'s server holds it. */
  async function contentOn(reader: MlsMember, eventId: string): Promise<Record<string, unknown>> {
    return eventually(async () => (await reader.client.timeline(roomId)).find((e) => e.event_id === eventId)?.content, `${eventId} on ${reader.client.server.name}`);
  }

  const mlsStatus = () => mlsStatusOf(hub, roomId);

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "f1.test"], { bindings: BINDINGS });
    [hub, p1, f1] = servers as [TestServer, TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    carol = await MlsMember.register(p1, "carol", "CAROL");
    bob = await MlsMember.register(f1, "bob", "BOB");
    dave = await MlsMember.register(hub, "dave", "DAVE");
    for (const m of [alice, carol, bob, dave]) await m.publish(3);
    await pairMimiPeers(hub, f1);
  });
  afterAll(() => stopServers(servers));

  it("puts an LM participant and a MIMI follower's user in one MLS room; the follower gets notify, not LM fan-out", async () => {
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    await alice.client.invite(roomId, carol.userId);
    await carol.client.join(roomId, hub.name);
    await alice.mls.createGroup(roomId);
    const installed = await installHub(alice, roomId); // MIMI participants need the hub as external sender
    lastCommit = installed.commitEventId;
    for (const p of installed.proposals) taken.add(p);

    const joinId = await addParticipant(alice, roomId, bob.userId);
    // p1 accepts the hub's event for bob, which f1 never signed: the content names f1 as the MIMI provider.
    expect(await contentOn(carol, joinId)).toMatchObject({ membership: "join", "m.mimi.provider": "f1.test" });
    viewId = await openView(bob, roomId);
    expect(viewId).not.toBe(roomId);
    // f1 holds no LM replica of the room: the hub sent it no LM fan-out.
    expect([403, 404]).toContain((await refusal(bob.client.timeline(roomId))).status);
  });

  it("adds carol and bob by an LM commit; bob's Welcome reaches f1 by notify, carol's by to-device", async () => {
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: { [carol.userId]: { CAROL: KEY_PACKAGE_ALGORITHM }, [bob.userId]: { BOB: KEY_PACKAGE_ALGORITHM } },
    });
    const packages = [carol, bob].map((m) => Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {})[0] as string);
    expect(await takeHubProposals(alice)).toHaveLength(1); // bob's join in the participant list
    const add = await alice.mls.commit({ add: packages });
    lastCommit = await alice.sendCommit(roomId, add);
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: lastCommit, room_id: roomId };
    await alice.sendToDevice("m.room.encrypted", { [carol.userId]: { CAROL: welcome }, [bob.userId]: { BOB: welcome } });
    await carol.mls.join((await carol.receive(isWelcomeFor(lastCommit), "the Welcome")).content["ciphertext"] as string);
    await awaitFanout(bob, viewId, add.welcome as string); // a MIMI provider takes no to-device (test/federation/mimi-welcome.test.ts)
    await bob.mls.join(add.welcome as string);
    for (const m of [carol, bob]) expect(m.mls.epoch).toBe(alice.mls.epoch);
    await awaitFanout(bob, viewId, add.message);
    expect(await mlsStatus()).toMatchObject({ epoch: 3, members: 3, pending: 0 });
  });

  it("carries a message each way with the same ciphertext bytes over LM and MIMI, and every member decrypts it", async () => {
    const fromAlice = await alice.mls.encrypt("hello from LM");
    const aliceId = await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: fromAlice, commit_event_id: lastCommit });
    expect((await contentOn(carol, aliceId))["ciphertext"]).toBe(fromAlice);
    await awaitFanout(bob, viewId, fromAlice); // notify carried the PrivateMessage bytes unchanged
    expect(await carol.mls.decrypt(fromAlice)).toBe("hello from LM");
    expect(await bob.mls.decrypt(fromAlice)).toBe("hello from LM");

    const fromBob = await bob.mls.encrypt("hello from MIMI");
    await bob.send(viewId, "m.room.encrypted", { ciphertext: fromBob });
    const onHub = await eventually(async () => (await alice.client.timeline(roomId)).find((e) => e.content["ciphertext"] === fromBob), "bob's message on the hub");
    expect(onHub.sender).toBe(bob.userId);
    expect(onHub.content).toMatchObject({ algorithm: ROOM_ALGORITHM, commit_event_id: lastCommit, "m.mimi.provider": "f1.test" });
    expect((await contentOn(carol, onHub.event_id))["ciphertext"]).toBe(fromBob);
    expect(await alice.mls.decrypt(fromBob)).toBe("hello from MIMI");
    expect(await carol.mls.decrypt(fromBob)).toBe("hello from MIMI");
    // The hub does not notify a provider of its own message; f1 recorded it when the hub accepted it.
    expect((await fanouts(bob, viewId)).filter((f) => f.message === fromBob)).toHaveLength(1);
  });

  it("claims key material over MIMI and commits with a Welcome through update; the added device joins and reads", async () => {
    await alice.client.invite(roomId, dave.userId);
    await dave.client.join(roomId);
    const packages = await claimOverMimi(bob, roomId, dave.userId);
    expect(packages).toHaveLength(1);
    const keysLeft = await dave.client.request<{ one_time_key_counts: Record<string, number> }>("POST", "/keys/upload", {});
    expect(keysLeft.one_time_key_counts[KEY_PACKAGE_ALGORITHM]).toBe(2); // single use: the claim took one

    // dave's join made the hub propose his list entry: every member takes it before bob's commit includes it.
    expect(await takeHubProposals(alice, carol, bob)).toHaveLength(1);
    const add = await bob.mls.commit({ add: packages });
    await commitViaView(bob, viewId, add);
    const onHub = await eventually(async () => (await alice.client.timeline(roomId)).find((e) => e.content["message"] === add.message), "bob's commit on the hub");
    expect(onHub).toMatchObject({ type: "m.mls.commit", sender: bob.userId });
    lastCommit = onHub.event_id;
    const welcome = await dave.receive(isWelcomeFor(lastCommit), "the Welcome relayed by the hub");
    expect(welcome.content["ciphertext"]).toBe(add.welcome);
    await dave.mls.join(add.welcome as string);
    for (const m of [alice, carol]) {
      await eventually(async () => ((await m.client.timeline(roomId)).some((e) => e.event_id === lastCommit) ? true : undefined), "the commit");
      await m.mls.processCommit(add.message);
    }
    const text = await bob.mls.encrypt("welcome dave");
    await bob.send(viewId, "m.room.encrypted", { ciphertext: text });
    for (const m of [alice, carol, dave]) expect(await m.mls.decrypt(text)).toBe("welcome dave");
    expect(await mlsStatus()).toMatchObject({ epoch: 4, members: 4, pending: 0 });
  });

  it("serves the follower the GroupInfo its update came with, for the epoch that commit started, sealed to the requester and signed by the hub", async () => {
    const got = await groupInfoOverMimi(bob, roomId); // through f1, as bob's client would
    expect(got.status).toBe("success");
    const context = got.tbe?.groupInfo.value.groupContext;
    expect(context?.epoch).toBe(4n);
    expect(context?.epoch).toBe(BigInt(bob.mls.epoch));
    expect(new TextDecoder().decode(context?.groupId)).toBe(roomId);
    expect(got.tbe?.pendingProposals).toEqual([]);
    expect(got.hubSender).toHaveLength(32);

    expect((await groupInfoOverMimi(bob, roomId, { tamper: true })).status).toBe("notAuthorized"); // signature over other bytes
    const erin = await MlsMember.register(f1, "erin", "ERIN"); // a user of f1 who is no participant
    expect((await groupInfoOverMimi(erin, roomId)).status).toBe("notAuthorized");
    expect((await groupInfoOverMimi(bob, "!unknown:hub.test")).status).toBe("noSuchRoom");
    // f1 asking, directly, for a user of hub.test: not its user to ask for.
    expect((await groupInfoOverMimi(alice, roomId, { direct: { hub, headers: { [MIMI_STAND_IN_HEADER]: FP } } })).status).toBe("notAuthorized");
  });

  it("sends the Welcome of an update that adds a follower's device to that follower by notify", async () => {
    const bob2 = await MlsMember.login(f1, "bob", "BOB2");
    await bob2.publish(1);
    const claimed = await bob.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", { one_time_keys: { [bob.userId]: { BOB2: KEY_PACKAGE_ALGORITHM } } });
    const add = await bob.mls.commit({ add: Object.values(claimed.one_time_keys[bob.userId]?.["BOB2"] ?? {}) });
    await commitViaView(bob, viewId, add);
    await awaitFanout(bob2, viewId, add.welcome as string);
    await bob2.mls.join(add.welcome as string);
    for (const m of [alice, carol, dave]) await m.mls.processCommit(add.message);
    lastCommit = (await eventually(async () => (await alice.client.timeline(roomId)).find((e) => e.content["message"] === add.message), "the commit on the hub")).event_id;
    const text = await alice.mls.encrypt("hello bob2");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: lastCommit });
    await awaitFanout(bob2, viewId, text);
    expect(await bob2.mls.decrypt(text)).toBe("hello bob2");
    expect(await mlsStatus()).toMatchObject({ epoch: 5, members: 5, pending: 0 });
  });

  it("answers a stale commit with wrongEpoch and the current epoch", async () => {
    const winner = await alice.mls.commit();
    const stale = await bob.mls.commit();
    lastCommit = await alice.sendCommit(roomId, winner);
    const refused = await refusal(commitViaView(bob, viewId, stale));
    expect(refused).toMatchObject({ status: 403, mimi_code: "wrongEpoch", current_epoch: 6 });
    await awaitFanout(bob, viewId, winner.message);
    await catchUpView(bob, viewId);
    for (const m of [carol, dave]) await m.mls.processCommit(winner.message);
    expect(bob.mls.epoch).toBe(6);
  });

  it("refuses an LM commit without its GroupInfo while the room has followers, and serves the one an LM commit carried", async () => {
    const bare = await refusal(alice.sendCommit(roomId, await alice.mls.commit(), { groupInfo: false }));
    expect(bare).toMatchObject({ status: 400, mls_code: "group_info_required", current_epoch: 6 });
    const got = await groupInfoOverMimi(bob, roomId); // the stale-commit test's winner came over LM
    expect(got.status).toBe("success");
    expect(got.tbe?.groupInfo.value.groupContext.epoch).toBe(6n);
  });

  it("processes a byte-identical notify once and answers 201 both times", async () => {
    const ciphertext = await alice.mls.encrypt("replayed");
    const message = decodeMlsMessageField(decodeBase64(ciphertext));
    if (!message.ok) throw new Error("not an MLS message");
    const body = encodeNotifyBody([{ kind: "application", timestamp: BigInt(Date.now()), message: message.value }]);
    const before = (await fanouts(bob, viewId)).length;
    for (let i = 0; i < 2; i++) {
      const res = await f1.fetch(`/mimi/v1/notify/${encodeURIComponent(roomId)}`, { method: "POST", headers: { "content-type": "application/octet-stream", [MIMI_STAND_IN_HEADER]: FP }, body });
      expect(res.status).toBe(201);
    }
    const after = await fanouts(bob, viewId);
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)?.message).toBe(encodeBase64(message.value.bytes));
  });

  it("queues notify while the follower is down and delivers it in order, retried with backoff, once it is back", async () => {
    await f1.stop();
    const sent: string[] = [];
    for (const text of ["one", "two", "three"]) {
      const ciphertext = await alice.mls.encrypt(text);
      await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext, commit_event_id: lastCommit });
      sent.push(ciphertext);
    }
    const queued = async () => ((await (await hub.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/mimi`, { headers: ADMIN })).json()) as { followers: string[]; queued: Array<{ provider: string; count: number }> });
    expect((await queued()).followers).toEqual(["f1.test"]);
    await eventually(async () => ((await queued()).queued.find((q) => q.provider === "f1.test")?.count === 3 ? true : undefined), "three notifies held for f1");
    await new Promise((r) => setTimeout(r, 800)); // failed attempts meanwhile; the queue keeps them
    expect((await queued()).queued).toEqual([{ provider: "f1.test", count: 3 }]);
    await f1.start();
    await eventually(async () => ((await fanouts(bob, viewId)).slice(-3).map((f) => f.message).join() === sent.join() ? true : undefined), "the three messages, in order", 30_000);
    for (const [i, text] of ["one", "two", "three"].entries()) expect(await bob.mls.decrypt(sent[i] as string)).toBe(text);
    expect((await queued()).queued).toEqual([]);
  });

  it("after an LM kick refuses every message until a commit removes the kicked user's device; an older epoch is then epochTooOld", async () => {
    const early = await bob.mls.encrypt("sent before the removal"); // at the epoch the removal ends
    await alice.client.kick(roomId, carol.userId);
    expect(await mlsStatus()).toMatchObject({ pending: 1 });
    const blocked = await refusal(bob.send(viewId, "m.room.encrypted", { ciphertext: await bob.mls.encrypt("blocked") }));
    expect(blocked).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    const lmBlocked = await refusal(alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: await alice.mls.encrypt("blocked"), commit_event_id: lastCommit }));
    expect(lmBlocked).toMatchObject({ status: 403, mls_code: "pending_removals" });

    // The hub proposed carol's list removal and the Remove of her device; the commit includes them.
    expect(await takeHubProposals(alice, bob, dave)).toHaveLength(2);
    const removal = await alice.mls.commit();
    lastCommit = await alice.sendCommit(roomId, removal);
    expect(alice.mls.leafOf(carol.userId, carol.deviceId)).toBeUndefined();
    expect(await mlsStatus()).toMatchObject({ epoch: 7, pending: 0 });
    const stale = await refusal(bob.send(viewId, "m.room.encrypted", { ciphertext: early }));
    expect(stale).toMatchObject({ status: 403, mimi_code: "epochTooOld", current_epoch: 7 });

    await awaitFanout(bob, viewId, removal.message);
    await catchUpView(bob, viewId);
    await dave.mls.processCommit(removal.message);
    const after = await bob.mls.encrypt("after the removal");
    await bob.send(viewId, "m.room.encrypted", { ciphertext: after });
    expect(await alice.mls.decrypt(after)).toBe("after the removal");
    expect(await dave.mls.decrypt(after)).toBe("after the removal");
  });
});
