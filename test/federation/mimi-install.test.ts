// Issue 17: MIMI participation needs the hub installed as the MLS group's external sender, and the hub
// holds a GroupInfo after LM commits too. Real ts-mls clients against three real servers: hub.test hosts
// an LM room with an MLS group (alice); p1.test takes part over LM (carol, no device in the group);
// f1.test is a MIMI follower (bob). Before installation the room
// takes no MIMI participant and no follower traffic; an install at a later epoch works and gates the
// next commit; an LM commit's GroupInfo is checked against the committer's key and then served.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { decodeMlsMessageField, decodeSubmitMessageResponse, encodeSubmitMessageRequest } from "../../shared/mimi/index.js";
import { MIMI_STAND_IN_HEADER } from "../../shared/mimi/peer-credential.js";
import { userUriOf } from "../../shared/mimi-identifiers.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { addParticipant, awaitFanout, groupInfoOverMimi, hubExternalSender, openView } from "./mimi-member.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM } from "./mls-member.js";
import { ADMIN, BINDINGS, FP, mlsStatusOf, pairMimiPeers, refusal } from "./mimi-participants-support.js";
import { MlsDevice } from "../support/mls-client.js";


describe("the hub as external sender is required for MIMI participation; LM commits carry a checked GroupInfo", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test
  let bob: MlsMember; // f1.test, MIMI follower
  let carol: MlsMember; // p1.test, LM
  let roomId: string;
  let viewId: string;
  let lastCommit: string;

  const mlsStatus = (on: TestServer = hub) => mlsStatusOf(on, roomId);

  async function followers(): Promise<string[]> {
    const res = await hub.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/mimi`, { headers: ADMIN });
    return ((await res.json()) as { followers: string[] }).followers;
  }

  /** f1 posting a MIMI body to the hub directly, as the provider its stand-in certificate names. */
  async function mimiPost(endpoint: "submitMessage", body: Uint8Array): Promise<Uint8Array> {
    const res = await hub.fetch(`/mimi/v1/${endpoint}/${encodeURIComponent(roomId)}`, { method: "POST", headers: { "content-type": "application/octet-stream", [MIMI_STAND_IN_HEADER]: FP }, body });
    expect(res.status).toBe(200);
    return new Uint8Array(await res.arrayBuffer());
  }

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "f1.test"], { bindings: BINDINGS });
    [hub, p1, f1] = servers as [TestServer, TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    carol = await MlsMember.register(p1, "carol", "CAROL");
    bob = await MlsMember.register(f1, "bob", "BOB");
    for (const m of [alice, bob]) await m.publish(2);
    await pairMimiPeers(hub, f1);
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    await alice.client.invite(roomId, carol.userId);
    await carol.client.join(roomId, hub.name); // p1 sees the group created, so it follows the roster
    await alice.mls.createGroup(roomId);
    for (let i = 0; i < 3; i++) lastCommit = await alice.sendCommit(roomId, await alice.mls.commit()); // an LM group at epoch 3
  });
  afterAll(() => stopServers(servers));

  it("refuses a MIMI participant and a would-be follower's submitMessage while the hub is not installed, and stores nothing", async () => {
    const refused = await refusal(addParticipant(alice, roomId, bob.userId));
    expect(refused).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    expect(String(refused["error"])).toContain("external sender");
    expect(await followers()).toEqual([]);
    const member = await hub.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(bob.userId)}`, { headers: { authorization: `Bearer ${alice.client.accessToken}` } });
    expect(member.status).toBe(404); // neither the invite nor the join was written

    // f1 speaking for its user as if it followed the room.
    const app = decodeMlsMessageField(decodeBase64(await alice.mls.encrypt("not for f1")));
    if (!app.ok) throw new Error("bad message");
    const submit = decodeSubmitMessageResponse(await mimiPost("submitMessage", encodeSubmitMessageRequest({ protocol: "mls10", appMessage: app.value, sendingUri: userUriOf(bob.userId) })));
    expect(submit.ok && submit.value.statusCode).toBe("notAllowed");
    expect(await mlsStatus()).toMatchObject({ epoch: 3, pending: 0 });
  });

  it("installs the hub at a later epoch; the next commit must include its participant-list proposal; then MIMI users can be added", async () => {
    const before = await hubExternalSender(alice, roomId);
    expect(before).toMatchObject({ installed: false, pending_proposals: [] });
    lastCommit = await alice.sendCommit(roomId, await alice.mls.commit({ extra: [MlsDevice.installExternalSender(decodeBase64(before.external_sender))] }));
    const after = await hubExternalSender(alice, roomId);
    expect(after.installed).toBe(true);
    expect(after.pending_proposals).toHaveLength(1); // the list with every joined user
    expect(await refusal(alice.sendCommit(roomId, await alice.mls.commit()))).toMatchObject({ status: 403, mls_code: "missing_hub_proposals", current_epoch: 4 });

    await addParticipant(alice, roomId, bob.userId);
    expect(await followers()).toEqual(["f1.test"]);
    const pending = (await hubExternalSender(alice, roomId)).pending_proposals;
    expect(pending).toHaveLength(2); // the install's list, and bob's join
    for (const p of pending) await alice.mls.processProposal(p);
    viewId = await openView(bob, roomId);
    for (const p of pending.slice(1)) await awaitFanout(bob, viewId, p); // proposed after f1 became a follower

    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", { one_time_keys: { [bob.userId]: { BOB: KEY_PACKAGE_ALGORITHM } } });
    const add = await alice.mls.commit({ add: [Object.values(claimed.one_time_keys[bob.userId]?.BOB ?? {})[0] as string] });

    // The same commit with a GroupInfo signed by another key, or one that is not a GroupInfo: refused whole.
    const forged = await alice.mls.groupInfoAfter(add, (await alice.mls.otherSignatureKey()).signKey);
    const send = (content: Record<string, unknown>) => alice.send(roomId, "m.mls.commit", { message: add.message, ...content });
    const badSignature = await refusal(send({ group_info: forged }));
    expect(badSignature).toMatchObject({ status: 400, errcode: "M_BAD_JSON", mls_code: "bad_group_info" });
    expect(String(badSignature["error"])).toContain("signature");
    expect(await refusal(send({ group_info: encodeBase64(new Uint8Array([0, 1, 0, 4, 9])) }))).toMatchObject({ status: 400, errcode: "M_BAD_JSON", mls_code: "bad_group_info" });
    expect(await refusal(send({ group_info: await alice.mls.groupInfoAfter(add), ratchet_tree: "AAAA" }))).toMatchObject({ status: 400, mls_code: "bad_group_info" });
    expect(await mlsStatus()).toMatchObject({ epoch: 4, members: 1 });
    expect((await hubExternalSender(alice, roomId)).pending_proposals).toEqual(pending);

    lastCommit = await alice.sendCommit(roomId, add, { groupInfo: true });
    expect(await mlsStatus()).toMatchObject({ epoch: 5, members: 2, pending: 0 });
    // p1 resolved the references from the key the epoch-3 commit installed, so its roster is the hub's.
    await eventually(async () => ((await carol.client.timeline(roomId)).some((e) => e.event_id === lastCommit) ? true : undefined), "the commit on p1");
    expect(await mlsStatus(p1)).toEqual(await mlsStatus());
    await alice.sendToDevice("m.room.encrypted", { [bob.userId]: { BOB: { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: lastCommit, room_id: roomId } } });
    await awaitFanout(bob, viewId, add.welcome as string); // a follower's user gets it by notify
    await bob.mls.join(add.welcome as string);
    expect(bob.mls.epoch).toBe(5);
  });

  it("refuses a follower's update whose GroupInfo another key signed (notAllowed), and changes nothing", async () => {
    const pending = await bob.mls.commit();
    const forged = await bob.mls.groupInfoAfter(pending, (await bob.mls.otherSignatureKey()).signKey);
    const refused = await refusal(bob.send(viewId, "m.mls.commit", { message: pending.message, group_info: forged }));
    expect(refused).toMatchObject({ status: 403, mimi_code: "notAllowed" });
    expect(await mlsStatus()).toMatchObject({ epoch: 5, members: 2 });
  });
  it("serves, right after an LM commit, the GroupInfo it carried, and accepts a member's standalone Remove checked against it", async () => {
    // With a follower in the room, a commit must carry its GroupInfo.
    const bare = await refusal(alice.sendCommit(roomId, await alice.mls.commit(), { groupInfo: false }));
    expect(bare).toMatchObject({ status: 400, errcode: "M_BAD_JSON", mls_code: "group_info_required", current_epoch: 5 });
    const got = await groupInfoOverMimi(bob, roomId); // no MIMI update since: the LM commit's GroupInfo
    expect(got.status).toBe("success");
    expect(got.tbe?.groupInfo.value.groupContext.epoch).toBe(5n);

    const own = await bob.mls.propose({ proposalType: "remove", remove: { removed: bob.mls.leafOf(bob.userId, bob.deviceId) as number } });
    await bob.send(viewId, "m.mls.commit", { message: own });
    expect((await hubExternalSender(alice, roomId)).pending_proposals).toEqual([own]);
  });

});
