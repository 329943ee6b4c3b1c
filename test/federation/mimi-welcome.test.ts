// Welcomes of LM commits for users of a MIMI follower (docs/mimi.md "Welcomes"), with real ts-mls
// clients on three real servers: hub.test orders the room (alice), p1.test takes part over LM
// (carol), f1.test is a MIMI follower (bob, whose client reads the room through f1's view). A Welcome
// that alice's or carol's client sends as to-device to bob's device must reach f1 as a notify
// `welcome`, after the commit, once, and f1 must get no to-device Welcome. p1 relays through the hub's
// signed endpoint, which refuses relays it cannot vouch for and takes a replay once.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { welcomeRelayJson, welcomeRelayPath } from "../../shared/mimi-welcome-relay.js";
import { eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { awaitFanout, catchUpView, FANOUT, hubExternalSender, mimiGroupWithFollower } from "./mimi-member.js";
import { decodeMessage } from "../support/mls-client.js";
import { ADMIN, BINDINGS, pairMimiPeers } from "./mimi-participants-support.js";
import { KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

describe("Welcomes of LM commits for a MIMI follower's users", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let f1: TestServer;
  let alice: MlsMember; // hub.test
  let carol: MlsMember; // p1.test, LM participant
  let bob: MlsMember; // f1.test, MIMI follower
  let bob2: MlsMember; // f1.test, bob's second device, added by carol
  let roomId: string;
  let viewId: string;
  let carolsCommit: string;
  let carolsWelcome: string;

  /** The view's fanouts of `kind` (oldest first) as f1 recorded them. */
  async function viewFanouts(m: MlsMember, kind: "welcome" | "message"): Promise<string[]> {
    return (await m.client.timeline(viewId)).filter((e) => e.type === FANOUT && e.content["kind"] === kind).map((e) => e.content["message"] as string);
  }

  async function claim(by: MlsMember, target: MlsMember): Promise<string> {
    const claimed = await by.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", { one_time_keys: { [target.userId]: { [target.deviceId]: KEY_PACKAGE_ALGORITHM } } });
    return Object.values(claimed.one_time_keys[target.userId]?.[target.deviceId] ?? {})[0] as string;
  }

  /** Waits until `m`'s server holds `eventId` in the room. */
  async function holds(m: MlsMember, eventId: string): Promise<void> {
    await eventually(async () => ((await m.client.timeline(roomId)).some((e) => e.event_id === eventId) ? true : undefined), `${eventId} on ${m.client.server.name}`);
  }

  async function queuedFor(provider: string): Promise<number> {
    const res = await hub.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/mimi`, { headers: ADMIN });
    const body = (await res.json()) as { queued?: Array<{ provider: string; count: number }> };
    return body.queued?.find((q) => q.provider === provider)?.count ?? 0;
  }

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
    ({ viewId } = await mimiGroupWithFollower(alice, bob, roomId));
  });
  afterAll(() => stopServers(servers));

  it("sends a hub-local client's Welcome for a follower's device to f1 by notify, after the commit and once; f1 gets no to-device", async () => {
    const add = await alice.mls.commit({ add: [await claim(alice, carol), await claim(alice, bob)] });
    const commit = await alice.sendCommit(roomId, add);
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: commit, room_id: roomId };
    await alice.sendToDevice("m.room.encrypted", { [carol.userId]: { CAROL: welcome }, [bob.userId]: { BOB: welcome } });

    await carol.mls.join((await carol.receive(isWelcomeFor(commit), "carol's Welcome")).content["ciphertext"] as string);
    await awaitFanout(bob, viewId, add.welcome as string);
    const fanned = (await bob.client.timeline(viewId)).filter((e) => e.type === FANOUT).map((e) => e.content["message"]);
    expect(fanned.indexOf(add.welcome)).toBeGreaterThan(fanned.indexOf(add.message)); // the commit first
    expect(fanned.indexOf(add.message)).toBeGreaterThanOrEqual(0);
    await bob.mls.join(add.welcome as string);
    expect(bob.mls.epoch).toBe(alice.mls.epoch);

    const text = await alice.mls.encrypt("hello bob, over notify");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: commit });
    await awaitFanout(bob, viewId, text);
    expect(await bob.mls.decrypt(text)).toBe("hello bob, over notify");
    // By now a to-device copy, sent when the Welcome was, would have reached f1's inbox.
    await bob.sync();
    expect(bob.inbox.filter(isWelcomeFor(commit))).toEqual([]);
    expect((await viewFanouts(bob, "welcome")).filter((w) => w === add.welcome)).toHaveLength(1);
  });

  it("relays an LM participant client's Welcome for a follower's device through the hub to f1 by notify; f1 gets no to-device", async () => {
    bob2 = await MlsMember.login(f1, "bob", "BOB2");
    await bob2.publish(1);
    const add = await carol.mls.commit({ add: [await claim(carol, bob2)] });
    carolsCommit = await carol.sendCommit(roomId, add);
    carolsWelcome = add.welcome as string;
    // Sent at once: p1 holds it until its replica has the commit, then relays it to the hub.
    await carol.sendToDevice("m.room.encrypted", { [bob.userId]: { BOB2: { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: carolsCommit, room_id: roomId } } });

    await awaitFanout(bob2, viewId, carolsWelcome);
    await bob2.mls.join(carolsWelcome);
    await holds(alice, carolsCommit);
    await alice.mls.processCommit(add.message);
    await awaitFanout(bob, viewId, add.message);
    await bob.mls.processCommit(add.message);

    const text = await carol.mls.encrypt("hello bob2, from p1");
    const sent = await carol.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: carolsCommit });
    await awaitFanout(bob2, viewId, text);
    for (const m of [bob, bob2]) expect(await m.mls.decrypt(text)).toBe("hello bob2, from p1");
    await holds(alice, sent);
    for (const m of [bob, bob2]) {
      await m.sync();
      expect(m.inbox.filter(isWelcomeFor(carolsCommit))).toEqual([]);
    }
    expect((await viewFanouts(bob2, "welcome")).filter((w) => w === carolsWelcome)).toHaveLength(1);
  });

  it("refuses a relay from a server not in the room over LM, for a non-follower target or for a device the commit did not add, queuing nothing", async () => {
    const relay = (targets: Array<{ userId: string; deviceId: string }>, room = roomId, commit = carolsCommit, welcome = carolsWelcome) =>
      welcomeRelayJson(room, { commitEventId: commit, sender: carol.userId, welcome, targets });
    const bob2Target = [{ userId: bob.userId, deviceId: "BOB2" }];
    const welcomesBefore = await viewFanouts(bob, "welcome");
    await eventually(async () => ((await queuedFor("f1.test")) === 0 ? true : undefined), "f1's notify queue drained");
    const attempts: Array<[string, Promise<Response>, number, string]> = [
      // f1 is a MIMI follower, not an LM participant; it may not relay.
      ["a follower relaying", f1.federation(hub, "POST", welcomeRelayPath(roomId), relay(bob2Target)), 403, "M_FORBIDDEN"],
      ["a target on hub.test", p1.federation(hub, "POST", welcomeRelayPath(roomId), relay([{ userId: alice.userId, deviceId: "ALICE" }])), 403, "M_FORBIDDEN"],
      ["a target on p1.test", p1.federation(hub, "POST", welcomeRelayPath(roomId), relay([{ userId: carol.userId, deviceId: "*" }])), 403, "M_FORBIDDEN"],
      ["a device the commit did not add", p1.federation(hub, "POST", welcomeRelayPath(roomId), relay([{ userId: bob.userId, deviceId: "BOB" }])), 403, "M_FORBIDDEN"],
      ["a commit that is not one", p1.federation(hub, "POST", welcomeRelayPath(roomId), relay(bob2Target, roomId, "$notacommit")), 403, "M_FORBIDDEN"],
      ["no Welcome", p1.federation(hub, "POST", welcomeRelayPath(roomId), relay(bob2Target, roomId, carolsCommit, "AAEA")), 400, "M_BAD_JSON"],
      ["an unsigned request", hub.fetch(welcomeRelayPath(roomId), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(relay(bob2Target)) }), 401, "M_UNAUTHORIZED"],
    ];
    const { room_id: otherRoom } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } });
    attempts.push(["a room p1 is not in", p1.federation(hub, "POST", welcomeRelayPath(otherRoom), relay(bob2Target, otherRoom)), 403, "M_FORBIDDEN"]);
    for (const [what, res, status, errcode] of attempts) {
      const r = await res;
      expect({ what, status: r.status, errcode: ((await r.json()) as { errcode?: string }).errcode }).toEqual({ what, status, errcode });
    }
    expect(await queuedFor("f1.test")).toBe(0);
    expect(await viewFanouts(bob, "welcome")).toEqual(welcomesBefore);
  });

  it("takes a replayed relay once: the hub answers it as a duplicate and f1 gets the Welcome one time", async () => {
    const body = welcomeRelayJson(roomId, { commitEventId: carolsCommit, sender: carol.userId, welcome: carolsWelcome, targets: [{ userId: bob.userId, deviceId: "BOB2" }] });
    for (let i = 0; i < 2; i++) {
      const res = await p1.federation(hub, "POST", welcomeRelayPath(roomId), body);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ queued: [], duplicates: ["f1.test"] });
    }
    // A message after the replays reaches f1 after anything they could have queued.
    const text = await alice.mls.encrypt("after the replays");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: carolsCommit });
    await awaitFanout(bob, viewId, text);
    expect((await viewFanouts(bob, "welcome")).filter((w) => w === carolsWelcome)).toHaveLength(1);
  });

  it("relays a Welcome p1 held until its replica had the commit, once released; f1 gets it once by notify (also when the hub's client sends it too) and no to-device", async () => {
    const bob3 = await MlsMember.login(f1, "bob", "BOB3");
    await bob3.publish(1);
    const add = await alice.mls.commit({ add: [await claim(alice, bob3)] });
    await p1.stop();
    let commit: string;
    try {
      commit = await alice.sendCommit(roomId, add);
    } finally {
      await p1.start();
    }
    // carol's client passes alice's Welcome on (as any member may); p1 has not got the commit yet, so it holds it.
    const before = await carol.client.timeline(roomId);
    await carol.sendToDevice("m.room.encrypted", { [bob.userId]: { BOB3: { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: commit, room_id: roomId } } });
    expect(before.some((e) => e.event_id === commit), "p1 had not yet received the commit when the Welcome was sent").toBe(false);

    await awaitFanout(bob3, viewId, add.welcome as string);
    await bob3.mls.join(add.welcome as string);
    // The committer's own copy of the same Welcome, sent afterwards on the hub, adds nothing for f1.
    await alice.sendToDevice("m.room.encrypted", { [bob.userId]: { BOB3: { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: commit, room_id: roomId } } });
    const text = await alice.mls.encrypt("hello bob3");
    await alice.send(roomId, "m.room.encrypted", { algorithm: ROOM_ALGORITHM, ciphertext: text, commit_event_id: commit });
    await awaitFanout(bob3, viewId, text);
    expect(await bob3.mls.decrypt(text)).toBe("hello bob3");
    await bob3.sync();
    expect(bob3.inbox.filter(isWelcomeFor(commit))).toEqual([]);
    expect((await viewFanouts(bob3, "welcome")).filter((w) => w === add.welcome)).toHaveLength(1);
  });

  it("relays the Welcome of a commit that adds a follower's device by reference to a member's held Add", async () => {
    // The hub checks a member's proposal against the GroupInfo of its epoch: an LM commit brings one.
    const fresh = await alice.sendCommit(roomId, await alice.mls.commit(), { groupInfo: true });
    await carol.catchUpTo(roomId, fresh);
    await catchUpView(bob, viewId);
    const bob4 = await MlsMember.login(f1, "bob", "BOB4");
    await bob4.publish(1);
    const keyPackage = decodeMessage(await claim(bob, bob4));
    if (keyPackage.wireformat !== "mls_key_package") throw new Error("not a KeyPackage");
    const proposal = await bob.mls.propose({ proposalType: "add", add: { keyPackage: keyPackage.keyPackage } });
    await bob.send(viewId, "m.mls.commit", { message: proposal }); // f1 forwards it through MIMI update
    await eventually(async () => ((await hubExternalSender(alice, roomId)).pending_proposals.includes(proposal) ? true : undefined), "the held Add");

    await carol.mls.processProposal(proposal);
    const commit = await carol.mls.commit();
    expect(commit.welcome).toBeDefined();
    const byReference = await carol.sendCommit(roomId, commit);
    await carol.sendToDevice("m.room.encrypted", { [bob.userId]: { BOB4: { algorithm: WELCOME_ALGORITHM, ciphertext: commit.welcome, commit_event_id: byReference, room_id: roomId } } });
    await awaitFanout(bob4, viewId, commit.welcome as string);
    await bob4.mls.join(commit.welcome as string);
    expect(bob4.mls.epoch).toBe(carol.mls.epoch);
    await bob4.sync();
    expect(bob4.inbox.filter(isWelcomeFor(byReference))).toEqual([]);
  });
});
