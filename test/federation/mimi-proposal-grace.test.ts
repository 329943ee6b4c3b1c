// The hub cannot check a member proposal's membership tag (it never has the epoch's membership key), so
// it may hold a proposal every member's client refuses. Such a proposal must not block the group for
// good: a member's held proposal is required only for MIMI_PROPOSAL_GRACE_MS (here 2 s), after which a
// commit may leave it out, as RFC 9420 §12.2 lets a committer leave out a proposal it finds invalid.
// Real ts-mls clients on two real servers: hub.test orders the room (alice), f1.test follows it (bob).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { awaitFanout, hubExternalSender, mimiGroupWithFollower } from "./mimi-member.js";
import { BINDINGS, pairMimiPeers, refusal } from "./mimi-participants-support.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM } from "./mls-member.js";

describe("a member's held proposal stays required only for the grace period", () => {
  let servers: TestServer[] = [];
  let alice: MlsMember; // hub.test
  let bob: MlsMember; // f1.test, MIMI follower
  let roomId: string;
  let viewId: string;

  const pendingOnHub = async (): Promise<string[]> => (await hubExternalSender(alice, roomId)).pending_proposals;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "f1.test"], { bindings: { ...BINDINGS, MIMI_PROPOSAL_GRACE_MS: "2000" } });
    const [hub, f1] = servers as [TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    bob = await MlsMember.register(f1, "bob", "BOB");
    for (const m of [alice, bob]) await m.publish(1);
    await pairMimiPeers(hub, f1);
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    ({ viewId } = await mimiGroupWithFollower(alice, bob, roomId));
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: { [bob.userId]: { [bob.deviceId]: KEY_PACKAGE_ALGORITHM } },
    });
    const keyPackage = Object.values(claimed.one_time_keys[bob.userId]?.[bob.deviceId] ?? {})[0] as string;
    // With the new epoch's GroupInfo, so the hub can check member proposals' signatures.
    const add = await alice.mls.commit({ add: [keyPackage] });
    const added = await alice.sendCommit(roomId, add, { groupInfo: true });
    // Sent as to-device by alice's client; the hub passes it to f1 by notify.
    await alice.sendToDevice("m.room.encrypted", { [bob.userId]: { [bob.deviceId]: { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: added, room_id: roomId } } });
    await awaitFanout(bob, viewId, add.welcome as string);
    await bob.mls.join(add.welcome as string);
  });
  afterAll(() => stopServers(servers));

  it("holds a proposal whose membership tag the clients refuse, refuses commits without it for the grace, then takes one that leaves it out", async () => {
    const own = decodeBase64(await bob.mls.propose({ proposalType: "remove", remove: { removed: bob.mls.leafOf(bob.userId, bob.deviceId) as number } }));
    own[own.length - 1] = (own[own.length - 1] as number) ^ 0x01; // the membership tag's last byte; the signature still verifies
    const badTag = encodeBase64(own);
    await bob.send(viewId, "m.mls.commit", { message: badTag }); // f1 forwards it through MIMI update
    await eventually(async () => ((await pendingOnHub()).includes(badTag) ? true : undefined), "the held proposal");
    await expect(alice.mls.processProposal(badTag)).rejects.toThrow();

    expect(await refusal(alice.sendCommit(roomId, await alice.mls.commit()))).toMatchObject({ status: 403, mls_code: "missing_hub_proposals" });
    const without = await eventually(async () => {
      try {
        return await alice.sendCommit(roomId, await alice.mls.commit());
      } catch {
        return undefined;
      }
    }, "a commit leaving the held proposal out, once the grace is over");
    expect(await pendingOnHub()).toEqual([]); // the commit ended the epoch the proposal belonged to

    const commit = (await alice.client.timeline(roomId)).find((e) => e.event_id === without)?.content["message"] as string;
    await awaitFanout(bob, viewId, commit);
    await bob.mls.processCommit(commit);
    const text = await alice.mls.encrypt("the group moved on");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: without });
    await awaitFanout(bob, viewId, text);
    expect(await bob.mls.decrypt(text)).toBe("the group moved on");
  });
});
