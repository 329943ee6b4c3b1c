// The MLS scenario of issue 7 with real ts-mls clients (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
// against two real servers: alice on hub.test hosts the room; bob (two devices) and carol are on
// p1.test. alice creates the group, adds the other devices from KeyPackages claimed over federation and
// sends their Welcomes by to-device; everyone reads everyone's messages; two devices race for one
// epoch; carol is kicked and removed; a commit adding a device of a user who is not joined is refused;
// Welcomes for commits that are not accepted are held; and neither server ever changes (or could read)
// what the clients sent. Steps share one room and run in order.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { PendingCommit } from "../support/mls-client.js";
import { eventually, MatrixApiError, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { commitEpoch, KEY_PACKAGE_ALGORITHM, MlsMember, ROOM_ALGORITHM, WELCOME_ALGORITHM, type ToDeviceEvent } from "./mls-member.js";

const ADMIN = { authorization: "Bearer test-admin-token" };
/**
 * A slow first retry: when p1 comes back in the Welcome hold step, the hub's copy of the commit reaches
 * it about three seconds after the failed attempt, which leaves p1 a window without it.
 */
const BINDINGS = { FEDERATION_RETRY_BASE_MS: "3000", FEDERATION_RETRY_MAX_MS: "10000" };

interface MlsStatus {
  epoch: number;
  members: number;
  pending: number;
  removalEpoch: number;
}

async function rosterOn(server: TestServer, roomId: string): Promise<MlsStatus | null> {
  const res = await server.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/mls`, { headers: ADMIN });
  expect(res.status).toBe(200);
  return ((await res.json()) as { roster: MlsStatus | null }).roster;
}

/** The refusal a client got, with the MLS fields the hub puts in it. */
async function refusal(p: Promise<unknown>): Promise<{ status: number; errcode?: string; mls_code?: string; current_epoch?: number; error?: string; missing_removals?: Array<{ user_id: string; device_id: string }> }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MatrixApiError) return { status: e.status, ...(e.body as object) };
    throw e;
  }
  throw new Error("expected the server to refuse");
}

const isWelcomeFor = (commitEventId: string) => (e: ToDeviceEvent) => e.type === "m.room.encrypted" && e.content["algorithm"] === WELCOME_ALGORITHM && e.content["commit_event_id"] === commitEventId;

describe("MLS in a room hosted on one server, with members on two", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: MlsMember;
  let bob1: MlsMember;
  let bob2: MlsMember;
  let carol: MlsMember;
  /** Joins late, through a held Welcome. */
  let dave: MlsMember;
  let roomId: string;
  /** The latest accepted commit: messages name it as the start of their epoch. */
  let lastCommit: string;
  /** Every m.mls.commit and m.room.encrypted content a client produced, by the event ID the room gave it. */
  const produced = new Map<string, JsonObject>();
  const plaintexts: string[] = [];

  const members = () => [alice, bob1, bob2, carol];

  async function commitBy(member: MlsMember, pending: PendingCommit): Promise<string> {
    const eventId = await member.sendCommit(roomId, pending, { groupInfo: false });
    produced.set(eventId, { message: pending.message });
    lastCommit = eventId;
    return eventId;
  }

  async function say(member: MlsMember, text: string): Promise<string> {
    const content = await member.encrypted(text, lastCommit);
    const eventId = await member.send(roomId, "m.room.encrypted", content);
    produced.set(eventId, content as JsonObject);
    plaintexts.push(text);
    return eventId;
  }

  /** The ciphertext of `eventId`, read through `reader`'s own server once it has arrived there. */
  async function ciphertextFor(reader: MlsMember, eventId: string): Promise<string> {
    return eventually(async () => {
      const e = (await reader.client.timeline(roomId)).find((x) => x.event_id === eventId);
      return e ? (e.content["ciphertext"] as string) : undefined;
    }, `${eventId} on ${reader.client.server.name}`);
  }

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"], { bindings: BINDINGS });
    [hub, p1] = servers as [TestServer, TestServer];
    alice = await MlsMember.register(hub, "alice", "ALICE");
    bob1 = await MlsMember.register(p1, "bob", "BOB1");
    bob2 = await MlsMember.login(p1, "bob", "BOB2");
    carol = await MlsMember.register(p1, "carol", "CAROL");
    for (const m of members()) await m.publish(3);
  });
  afterAll(() => stopServers(servers));

  it("makes a room an MLS room by its create event, and refuses encryption it cannot enforce or would weaken", async () => {
    const bogus = await refusal(alice.client.createRoom({ creation_content: { encryption: { algorithm: "m.mls.v1.x448-chacha20poly1305-sha512-unknown" } } }));
    expect(bogus.status).toBe(400);
    const megolmInMls = await refusal(
      alice.client.createRoom({
        creation_content: { encryption: { algorithm: ROOM_ALGORITHM } },
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
      }),
    );
    expect(megolmInMls).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    ({ room_id: roomId } = await alice.client.createRoom({ creation_content: { encryption: { algorithm: ROOM_ALGORITHM } } }));
    const create = (await alice.client.timeline(roomId))[0];
    expect(create?.content["encryption"]).toEqual({ algorithm: ROOM_ALGORITHM });

    // An MLS room keeps its algorithm: m.room.encryption may only restate it.
    const downgrade = await refusal(alice.client.setState(roomId, "m.room.encryption", "", { algorithm: "m.megolm.v1.aes-sha2" }));
    expect(downgrade).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    await alice.client.setState(roomId, "m.room.encryption", "", { algorithm: ROOM_ALGORITHM });

    for (const m of [bob1, carol]) await alice.client.invite(roomId, m.userId);
    for (const m of [bob1, carol]) await m.client.join(roomId, hub.name);
    expect(await rosterOn(hub, roomId)).toBeNull(); // no group until its first commit
  });

  it("creates the group from the creator's first commit, whose UpdatePath names the creator's device", async () => {
    await alice.mls.createGroup(roomId);
    await commitBy(alice, await alice.mls.commit());
    expect(alice.mls.epoch).toBe(1);
    expect(await rosterOn(hub, roomId)).toEqual({ epoch: 1, members: 1, pending: 0, removalEpoch: 0 });
  });

  it("adds the other devices from KeyPackages claimed over federation; their Welcomes arrive by to-device once the commit is accepted", async () => {
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>>; failures: Record<string, unknown> }>("POST", "/keys/claim", {
      one_time_keys: { [bob1.userId]: { BOB1: KEY_PACKAGE_ALGORITHM, BOB2: KEY_PACKAGE_ALGORITHM }, [carol.userId]: { CAROL: KEY_PACKAGE_ALGORITHM } },
    });
    expect(claimed.failures).toEqual({});
    const packages = [bob1, bob2, carol].map((m) => {
      const keys = Object.values(claimed.one_time_keys[m.userId]?.[m.deviceId] ?? {});
      expect(keys, `one KeyPackage claimed for ${m}`).toHaveLength(1);
      return keys[0] as string;
    });

    const add = await alice.mls.commit({ add: packages });
    const addId = await commitBy(alice, add);
    const welcome = { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: addId };
    // bob's Welcomes name the room; carol's does not, so the server finds the room from the commit.
    await alice.sendToDevice("m.room.encrypted", {
      [bob1.userId]: { BOB1: { ...welcome, room_id: roomId }, BOB2: { ...welcome, room_id: roomId } },
      [carol.userId]: { CAROL: welcome },
    });
    for (const m of [bob1, bob2, carol]) {
      const got = await m.receive(isWelcomeFor(addId), "the Welcome");
      expect(got.sender).toBe(alice.userId);
      expect(got.content["ciphertext"]).toBe(add.welcome);
      await m.mls.join(got.content["ciphertext"] as string);
      expect(m.mls.epoch).toBe(alice.mls.epoch);
    }
    expect(await rosterOn(hub, roomId)).toEqual({ epoch: 2, members: 4, pending: 0, removalEpoch: 0 });
    // p1 joined before the group existed, so it saw the group's creation and follows the same roster.
    await eventually(async () => ((await rosterOn(p1, roomId))?.epoch === 2 ? true : undefined), "p1's roster at epoch 2");
    expect(await rosterOn(p1, roomId)).toEqual(await rosterOn(hub, roomId));
  });

  it("lets every member decrypt every other member's messages, on either server", async () => {
    const sent = new Map<string, { from: MlsMember; text: string }>();
    for (const m of members()) {
      const text = `hello from ${m}`;
      sent.set(await say(m, text), { from: m, text });
    }
    for (const reader of members()) {
      for (const [eventId, { from, text }] of sent) {
        if (from === reader) continue; // MLS senders cannot decrypt their own messages
        expect(await reader.mls.decrypt(await ciphertextFor(reader, eventId)), `${reader} reads ${from}`).toBe(text);
      }
    }
  });

  it("accepts exactly one of two commits racing for the same epoch; the loser learns the current epoch, rebases and succeeds", async () => {
    const epoch = alice.mls.epoch;
    const racers = [alice, bob1] as const;
    const pendings = await Promise.all(racers.map((m) => m.mls.commit()));
    const outcomes = await Promise.allSettled(racers.map((m, i) => m.send(roomId, "m.mls.commit", { message: (pendings[i] as PendingCommit).message })));
    const winners = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [i] : []));
    expect(winners).toHaveLength(1);
    const w = winners[0] as number;
    const l = 1 - w;
    const winner = racers[w] as MlsMember;
    const loser = racers[l] as MlsMember;
    const winnerId = (outcomes[w] as PromiseFulfilledResult<string>).value;
    winner.mls.confirm(pendings[w] as PendingCommit);
    produced.set(winnerId, { message: (pendings[w] as PendingCommit).message });
    lastCommit = winnerId;

    const lost = outcomes[l] as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(MatrixApiError);
    const body = (lost.reason as MatrixApiError).body as { errcode: string; current_epoch?: number; mls_code?: string };
    expect((lost.reason as MatrixApiError).status).toBe(403);
    expect(body).toMatchObject({ errcode: "M_FORBIDDEN", mls_code: "wrong_epoch", current_epoch: epoch + 1 });

    // The loser applies the winner from its server's timeline, then commits for the new epoch.
    await loser.catchUpTo(roomId, winnerId);
    expect(loser.mls.epoch).toBe(epoch + 1);
    await commitBy(loser, await loser.mls.commit());
    for (const m of members()) if (m !== loser) await m.catchUpTo(roomId, lastCommit);
    for (const m of members()) expect(m.mls.epoch, `${m}`).toBe(epoch + 2);
    expect((await rosterOn(hub, roomId))?.epoch).toBe(epoch + 2);

    const ping = await say(bob2, "after the race");
    for (const r of [alice, bob1, carol]) expect(await r.mls.decrypt(await ciphertextFor(r, ping))).toBe("after the race");
  });

  it("after a kick, refuses everything until a commit removes the kicked user's devices, who then cannot decrypt what follows", async () => {
    const carolLeaf = alice.mls.leafOf(carol.userId, carol.deviceId) as number;
    expect(carolLeaf).toBeDefined();
    await alice.client.kick(roomId, carol.userId);
    expect(await rosterOn(hub, roomId)).toMatchObject({ pending: 1 });

    // Pending removal: no message may be encrypted to a group that still holds carol's device...
    const early = await alice.encrypted("before the removal", lastCommit);
    const refusedMessage = await refusal(alice.send(roomId, "m.room.encrypted", early));
    expect(refusedMessage).toMatchObject({ status: 403, mls_code: "pending_removals" });
    // ...and the next commit must contain the removal (here from the other server, through the hub).
    const withoutRemoval = await bob1.mls.commit();
    const refusedCommit = await refusal(bob1.send(roomId, "m.mls.commit", { message: withoutRemoval.message }));
    expect(refusedCommit).toMatchObject({ status: 403, mls_code: "pending_removals", current_epoch: bob1.mls.epoch });

    const epochBefore = carol.mls.epoch;
    await commitBy(alice, await alice.mls.commit({ remove: [carolLeaf] }));
    expect(await rosterOn(hub, roomId)).toMatchObject({ members: 3, pending: 0, removalEpoch: alice.mls.epoch });
    for (const m of [bob1, bob2]) await m.catchUpTo(roomId, lastCommit);
    expect(bob1.mls.leafOf(carol.userId, carol.deviceId)).toBeUndefined();

    const secret = await say(bob1, "carol must not read this");
    const ciphertext = await ciphertextFor(alice, secret);
    expect(await alice.mls.decrypt(ciphertext)).toBe("carol must not read this");
    expect(await bob2.mls.decrypt(await ciphertextFor(bob2, secret))).toBe("carol must not read this");
    // carol's device still holds the group as it was before her removal: it has no key for the new epoch.
    expect(carol.mls.epoch).toBe(epochBefore);
    await expect(carol.mls.decrypt(ciphertext)).rejects.toThrow();
  });

  it("refuses a commit that adds a device of a user who is not joined", async () => {
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: { [carol.userId]: { CAROL: KEY_PACKAGE_ALGORITHM } },
    });
    const kp = Object.values(claimed.one_time_keys[carol.userId]?.["CAROL"] ?? {})[0] as string;
    expect(typeof kp).toBe("string");
    const epoch = alice.mls.epoch;
    const readd = await alice.mls.commit({ add: [kp] });
    expect(commitEpoch(readd.message)).toBe(epoch);
    const refused = await refusal(alice.send(roomId, "m.mls.commit", { message: readd.message }));
    expect(refused).toMatchObject({ status: 403, errcode: "M_FORBIDDEN", mls_code: "add_not_joined", current_epoch: epoch });
    expect((await rosterOn(hub, roomId))?.epoch).toBe(epoch);
  });

  it("does not release a Welcome whose commit is not an accepted commit of the room", async () => {
    const notACommit = [...produced.keys()].find((id) => produced.get(id)?.["ciphertext"] !== undefined) as string;
    const neverAccepted = "$thisEventIdNamesNoCommitAtAll00000000000000";
    await alice.sendToDevice("m.room.encrypted", {
      [bob2.userId]: { BOB2: { algorithm: WELCOME_ALGORITHM, ciphertext: "AAAA", commit_event_id: notACommit, room_id: roomId } },
    });
    await alice.sendToDevice("m.room.encrypted", {
      [bob2.userId]: { BOB2: { algorithm: WELCOME_ALGORITHM, ciphertext: "AAAA", commit_event_id: neverAccepted, room_id: roomId } },
    });
    // A plain message sent afterwards arrives: the Welcomes before it were held or dropped, not delayed in transit.
    await alice.sendToDevice("m.marker", { [bob2.userId]: { BOB2: { after: "welcomes" } } });
    await bob2.receive((e) => e.type === "m.marker", "the marker");
    expect(bob2.inbox.filter((e) => e.content["algorithm"] === WELCOME_ALGORITHM && (e.content["commit_event_id"] === notACommit || e.content["commit_event_id"] === neverAccepted))).toEqual([]);
    // A Welcome that cannot name its commit is refused outright.
    const malformed = await refusal(alice.sendToDevice("m.room.encrypted", { [bob2.userId]: { BOB2: { algorithm: WELCOME_ALGORITHM, ciphertext: "AAAA" } } }));
    expect(malformed).toMatchObject({ status: 400, errcode: "M_BAD_JSON" });
  });

  it("holds a Welcome sent through a server that has not yet seen its commit, and releases it when the commit arrives", async () => {
    // dave (on the hub's server) joins late; alice adds him while p1 is down, so p1 gets the commit only
    // when the hub's retry reaches it. Meanwhile bob1 forwards the Welcome from p1, whose copy of the room
    // does not have the commit yet: p1 must hold it, and release it once the commit arrives.
    dave = await MlsMember.register(hub, "dave", "DAVE");
    await dave.publish(1);
    await alice.client.invite(roomId, dave.userId);
    await dave.client.join(roomId);
    const claimed = await alice.client.request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>("POST", "/keys/claim", {
      one_time_keys: { [dave.userId]: { DAVE: KEY_PACKAGE_ALGORITHM } },
    });
    const kp = Object.values(claimed.one_time_keys[dave.userId]?.["DAVE"] ?? {})[0] as string;
    const add = await alice.mls.commit({ add: [kp] });

    await p1.stop();
    let addId: string;
    try {
      addId = await commitBy(alice, add);
    } finally {
      await p1.start();
    }
    const before = await bob1.client.timeline(roomId);
    await bob1.sendToDevice("m.room.encrypted", { [dave.userId]: { DAVE: { algorithm: WELCOME_ALGORITHM, ciphertext: add.welcome, commit_event_id: addId, room_id: roomId } } });
    expect(before.some((e) => e.event_id === addId), "p1 had not yet received the commit when the Welcome was sent").toBe(false);
    // While p1 still lacks the commit (checked after each of dave's syncs), dave must not have the Welcome.
    let checkedWhileHeld = 0;
    for (;;) {
      await dave.sync();
      if ((await bob1.client.timeline(roomId)).some((e) => e.event_id === addId)) break;
      expect(dave.inbox.some(isWelcomeFor(addId)), "a Welcome released before its commit reached p1").toBe(false);
      checkedWhileHeld++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(checkedWhileHeld).toBeGreaterThan(0);
    const got = await dave.receive(isWelcomeFor(addId), "the held Welcome", 30_000);
    expect(got.sender).toBe(bob1.userId);
    await dave.mls.join(got.content["ciphertext"] as string);
    expect(dave.mls.epoch).toBe(alice.mls.epoch);
    for (const m of [bob1, bob2]) await m.catchUpTo(roomId, addId);
    const hello = await say(dave, "dave joined through a held Welcome");
    for (const r of [alice, bob1, bob2]) expect(await r.mls.decrypt(await ciphertextFor(r, hello))).toBe("dave joined through a held Welcome");
  });

  it("makes a device that logs out a pending removal, which the next commit must make", async () => {
    const leaf = alice.mls.leafOf(bob2.userId, bob2.deviceId) as number;
    expect(leaf).toBeDefined();
    await bob2.client.request("POST", "/logout", {});
    // p1 tells the hub (m.device_list_update, device removed); both rooms mark the leaf.
    for (const server of [hub, p1]) await eventually(async () => ((await rosterOn(server, roomId))?.pending === 1 ? true : undefined), `${server.name} marking BOB2 for removal`);
    const refused = await refusal(alice.send(roomId, "m.room.encrypted", await alice.encrypted("while BOB2 is still in the group", lastCommit)));
    expect(refused).toMatchObject({ status: 403, mls_code: "pending_removals", missing_removals: [{ leaf, user_id: bob2.userId, device_id: "BOB2" }] });
    // bob is still joined: only the device being gone lets alice remove it.
    await commitBy(alice, await alice.mls.commit({ remove: [leaf] }));
    expect(await rosterOn(hub, roomId)).toMatchObject({ pending: 0, removalEpoch: alice.mls.epoch });
    for (const m of [bob1, dave]) await m.catchUpTo(roomId, lastCommit);
    const after = await say(bob1, "BOB2 is gone");
    for (const r of [alice, dave]) expect(await r.mls.decrypt(await ciphertextFor(r, after))).toBe("BOB2 is gone");
    await eventually(async () => ((await rosterOn(p1, roomId))?.epoch === alice.mls.epoch ? true : undefined), "p1 following the removal");
    expect(await rosterOn(p1, roomId)).toEqual(await rosterOn(hub, roomId));
  });

  it("stores every commit and ciphertext byte for byte as the clients produced them, on both servers", async () => {
    expect(produced.size).toBeGreaterThan(10);
    for (const server of [hub, p1]) {
      // p1 joined before the group existed, so it holds every one of them too (once fan-out is done).
      const stored = await eventually(async () => {
        const all = new Map((await storedEvents(server, roomId)).map((e) => [e.event_id, e]));
        return [...produced.keys()].every((id) => all.has(id)) ? all : undefined;
      }, `every MLS event on ${server.name}`);
      for (const [eventId, content] of produced) {
        const e = stored.get(eventId);
        if (!e) throw new Error(`${eventId} missing on ${server.name}`);
        expect(canonicalJson(e.pdu.content as JsonObject), `${eventId} on ${server.name}`).toBe(canonicalJson(content));
        const opaque = (content["ciphertext"] ?? content["message"]) as string;
        expect((e.pdu.content["ciphertext"] ?? e.pdu.content["message"]) as string).toBe(opaque);
      }
      const everything = JSON.stringify([...stored.values()]);
      for (const text of plaintexts) expect(everything.includes(text), `${server.name} stores "${text}" in the clear`).toBe(false);
    }
  });
});

describe("double-ratchet rooms keep their encryption", () => {
  let servers: TestServer[] = [];
  let alice: TestClient;

  beforeAll(async () => {
    servers = await startServers(["hub.test"]);
    alice = await TestClient.register(servers[0] as TestServer, "alice");
  });
  afterAll(() => stopServers(servers));

  it("refuses changing, removing or redacting an existing m.room.encryption algorithm, and m.mls.commit events", async () => {
    const { room_id: roomId } = await alice.createRoom({});
    const encryption = await alice.setState(roomId, "m.room.encryption", "", { algorithm: "m.megolm.v1.aes-sha2" });
    await alice.setState(roomId, "m.room.encryption", "", { algorithm: "m.megolm.v1.aes-sha2", rotation_period_ms: 604800000 });
    for (const content of [{ algorithm: "m.olm.v1.curve25519-aes-sha2" }, {}]) {
      expect(await refusal(alice.setState(roomId, "m.room.encryption", "", content))).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    }
    const current = await alice.request<{ event_id: string }>("GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.encryption/?format=event`);
    expect(current.event_id).not.toBe(encryption);
    expect(await refusal(alice.request("PUT", `/rooms/${encodeURIComponent(roomId)}/redact/${encodeURIComponent(current.event_id)}/r1`, {}))).toMatchObject({ status: 403 });
    expect(await refusal(alice.request("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.mls.commit/c1`, { message: "AAAA" }))).toMatchObject({ status: 403, mls_code: "not_mls_room" });
    // Megolm events themselves pass untouched.
    const megolm = { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "opaque", sender_key: "k", session_id: "s", device_id: "D" };
    const id = (await alice.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/m1`, megolm)).event_id;
    const stored = (await storedEvents(servers[0] as TestServer, roomId)).find((e) => e.event_id === id);
    expect(stored?.pdu.content).toEqual(megolm);
  });
});
