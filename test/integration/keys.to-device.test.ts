import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UserStream } from "../../durable-objects/user-stream.js";
import { C, call, createRoom, expectError, join, leave, login, register, sync, uploadOk, type Session } from "./keys.helpers.js";

let txn = 0;
async function sendToDevice(from: Session, messages: Record<string, Record<string, unknown>>, txnId = `t${++txn}`, type = "m.test") {
  return call("PUT", `${C}/sendToDevice/${type}/${txnId}`, { token: from.token, body: { messages } });
}

/** Messages still stored in a device's inbox. */
async function inboxSize(s: Session): Promise<number> {
  const stub = env.USER_STREAM.get(env.USER_STREAM.idFromName(s.userId));
  return runInDurableObject(stub, (_obj: UserStream, state) => state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM to_device WHERE device_id = ?`, s.deviceId).one().n);
}

describe("PUT /sendToDevice", () => {
  it("delivers to the named device only, with sender, type and content", async () => {
    const alice = await register("tda");
    const bob = await register("tdb");
    const bob2 = await login(bob, "DEV2");
    const res = await sendToDevice(alice, { [bob.userId]: { DEV1: { hello: "bob" } } }, "t-one", "m.room_key_request");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({});
    expect((await sync(bob)).to_device.events).toEqual([{ sender: alice.userId, type: "m.room_key_request", content: { hello: "bob" } }]);
    expect((await sync(bob2)).to_device.events).toEqual([]);
  });

  it("delivers to every device of the user for *", async () => {
    const alice = await register("tdstar");
    const bob = await register("tdstarb");
    const bob2 = await login(bob, "DEV2");
    expect((await sendToDevice(alice, { [bob.userId]: { "*": { n: 1 } } })).status).toBe(200);
    expect((await sync(bob)).to_device.events.map((e) => e.content)).toEqual([{ n: 1 }]);
    expect((await sync(bob2)).to_device.events.map((e) => e.content)).toEqual([{ n: 1 }]);
  });

  it("is idempotent per device and transaction ID, even after the first copy was acknowledged", async () => {
    const alice = await register("tdidem");
    const alice2 = await login(alice, "DEV2");
    const bob = await register("tdidemb");
    const msg = { [bob.userId]: { DEV1: { once: true } } };
    expect((await sendToDevice(alice, msg, "same")).status).toBe(200);
    const first = await sync(bob);
    expect(first.to_device.events).toHaveLength(1);
    await sync(bob, first.next_batch); // acknowledges
    expect((await sendToDevice(alice, msg, "same")).status).toBe(200);
    expect((await sync(bob, first.next_batch)).to_device.events).toEqual([]);
    // Another device of the same user has its own transaction IDs.
    expect((await sendToDevice(alice2, msg, "same")).status).toBe(200);
    expect((await sync(bob, first.next_batch)).to_device.events).toHaveLength(1);
  });

  it("keeps messages until a sync presents the token of the response that carried them, then deletes them", async () => {
    const alice = await register("tdack");
    const bob = await register("tdackb");
    const initial = await sync(bob);
    await sendToDevice(alice, { [bob.userId]: { DEV1: { n: 1 } } });
    await sendToDevice(alice, { [bob.userId]: { DEV1: { n: 2 } } });
    const got = await sync(bob, initial.next_batch);
    expect(got.to_device.events.map((e) => e.content)).toEqual([{ n: 1 }, { n: 2 }]);
    // The response was lost: the client syncs from its old token and gets the messages again.
    const again = await sync(bob, initial.next_batch);
    expect(again.to_device.events.map((e) => e.content)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(again.next_batch).not.toBe(got.next_batch);
    expect(await inboxSize(bob)).toBe(2);
    // Presenting the token acknowledges: they are deleted and not delivered again.
    const acked = await sync(bob, again.next_batch);
    expect(acked.to_device.events).toEqual([]);
    expect(await inboxSize(bob)).toBe(0);
    expect((await sync(bob, acked.next_batch)).to_device.events).toEqual([]);
  });

  it("hands out a large backlog 100 at a time without losing any", async () => {
    // Three senders, 50 messages each: one access token's rate limit allows bursts of 100.
    const senders = await Promise.all(["tdmany1", "tdmany2", "tdmany3"].map((n) => register(n)));
    const bob = await register("tdmanyb");
    for (let i = 0; i < 150; i++) expect((await sendToDevice(senders[Math.floor(i / 50)] as Session, { [bob.userId]: { DEV1: { i } } })).status).toBe(200);
    const first = await sync(bob);
    expect(first.to_device.events).toHaveLength(100);
    const second = await sync(bob, first.next_batch);
    expect(second.to_device.events).toHaveLength(50);
    const seen = [...first.to_device.events, ...second.to_device.events].map((e) => e.content["i"]);
    expect(seen).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect((await sync(bob, second.next_batch)).to_device.events).toEqual([]);
  }, 30_000); // 150 requests one after another: the default 5 s is too tight when the whole suite shares two cores

  it("wakes a long-polling sync when a message arrives", async () => {
    const alice = await register("tdwake");
    const bob = await register("tdwakeb");
    const since = (await sync(bob)).next_batch;
    const started = Date.now();
    const polling = sync(bob, since, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    await sendToDevice(alice, { [bob.userId]: { DEV1: { wake: 1 } } });
    const res = await polling;
    expect(res.to_device.events.map((e) => e.content)).toEqual([{ wake: 1 }]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("drops messages for unknown users and devices, and a logged-out device's inbox", async () => {
    const alice = await register("tddrop");
    const bob = await register("tddropb");
    const bob2 = await login(bob, "DEV2");
    expect((await sendToDevice(alice, { "@ghost:hub.test": { X: {} }, [bob.userId]: { NOSUCH: {}, DEV2: { keep: 1 } } })).status).toBe(200);
    expect(await inboxSize(bob2)).toBe(1);
    expect((await call("POST", `${C}/logout`, { token: bob2.token, body: {} })).status).toBe(200);
    expect(await inboxSize(bob2)).toBe(0);
  });

  it("refuses malformed requests and oversized messages for other servers", async () => {
    const alice = await register("tdbad");
    expectError(await call("PUT", `${C}/sendToDevice/m.test/x1`, { token: alice.token, body: {} }), 400, "M_BAD_JSON");
    expectError(await sendToDevice(alice, { "not-a-user": { D: {} } }), 400, "M_INVALID_PARAM");
    expectError(await sendToDevice(alice, { [alice.userId]: { D: "text" } }), 400, "M_BAD_JSON");
    expectError(await sendToDevice(alice, { "@bob:elsewhere.test": { D: { blob: "x".repeat(40_000) } } }), 413, "M_TOO_LARGE");
    expectError(await call("PUT", `${C}/sendToDevice/m.test/x2`, { body: { messages: {} } }), 401, "M_MISSING_TOKEN");
  });
});

describe("device lists in /sync", () => {
  it("tells room-mates and the user's other devices about new device keys, and no one else", async () => {
    const alice = await register("dla");
    const bob = await register("dlb");
    const bob2 = await login(bob, "DEV2");
    const carol = await register("dlc");
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    const tokens = await Promise.all([alice, bob2, carol].map(async (s) => (await sync(s)).next_batch));
    await uploadOk(bob, { device_keys: await bob.keys.deviceKeys() });
    const [a, b2, c] = await Promise.all([alice, bob2, carol].map((s, i) => sync(s, tokens[i])));
    expect(a?.device_lists.changed).toContain(bob.userId);
    expect(b2?.device_lists.changed).toContain(bob.userId);
    expect(c?.device_lists.changed).toEqual([]);
    // The same keys uploaded again are no news.
    await uploadOk(bob, { device_keys: await bob.keys.deviceKeys() });
    const quiet = await sync(alice, a?.next_batch);
    expect(quiet.device_lists.changed).not.toContain(bob.userId);
  });

  it("tells room-mates when a device with keys logs out", async () => {
    const alice = await register("dlout");
    const bob = await register("dloutb");
    const bob2 = await login(bob, "DEV2");
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    await uploadOk(bob2, { device_keys: await bob2.keys.deviceKeys() });
    const since = (await sync(alice)).next_batch;
    expect((await call("POST", `${C}/logout`, { token: bob2.token, body: {} })).status).toBe(200);
    expect((await sync(alice, since)).device_lists.changed).toEqual([bob.userId]);
  });

  it("lists a user who joins a shared room as changed, and as left once no room is shared", async () => {
    const alice = await register("dlj");
    const dave = await register("dljd");
    const roomId = await createRoom(alice);
    const since = (await sync(alice)).next_batch;
    await join(dave, roomId);
    const joined = await sync(alice, since);
    expect(joined.device_lists.changed).toEqual([dave.userId]);
    await leave(dave, roomId);
    const left = await sync(alice, joined.next_batch);
    expect(left.device_lists.left).toEqual([dave.userId]);
    expect(left.device_lists.changed).toEqual([]);
  });

  it("reports one-time key counts, with signed_curve25519 always present, only on incremental syncs' device lists", async () => {
    const s = await register("dlcount");
    const initial = await sync(s);
    expect(initial.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(initial.device_lists).toEqual({ changed: [], left: [] });
    await uploadOk(s, { device_keys: await s.keys.deviceKeys(), one_time_keys: await s.keys.keyPackages(2) });
    const after = await sync(s, initial.next_batch);
    expect(after.device_one_time_keys_count).toEqual({ signed_curve25519: 0, "m.mls.v1.key_package.dhkemx25519-aes128gcm-sha256-ed25519": 2 });
    expect(after.device_lists.changed).toEqual([s.userId]);
  });
});
