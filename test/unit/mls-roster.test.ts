import { describe, expect, it } from "vitest";
import { isMemberDevice } from "../../shared/mls-roster.js";
import { rewriteMessage } from "../support/mls-client.js";
import { ROOM, Hub, accepted, rejected, device, populatedRoom, processAll } from "./mls-roster-hub.js";

describe("MLS roster: group creation and adds", () => {
  it("creates the roster from the creator's first commit and places added devices where MLS does", async () => {
    const { hub, alice, all } = await populatedRoom();
    const roster = hub.roster!;
    expect(roster.epoch).toBe(2);
    expect(roster.leaves).toEqual(all.map((d) => ({ userId: d.userId, deviceId: d.deviceId })));
    for (const d of all) expect(alice.leafOf(d.userId, d.deviceId)).toBe(roster.leaves.findIndex((l) => l?.deviceId === d.deviceId));
    expect(all.every((d) => d.epoch === 2)).toBe(true);
    expect(isMemberDevice(roster, "@bob:other.example", "B2")).toBe(true);
    expect(JSON.parse(JSON.stringify(roster))).toEqual(roster);
  });

  it("lets only a joined user create the group, from its own device, with an UpdatePath", async () => {
    const hub = new Hub();
    const alice = await device("@alice:hub.example", "A1");
    const bob = await device("@bob:other.example", "B1");
    hub.register(alice, bob);
    await alice.createGroup(ROOM);
    const first = await alice.commit();
    expect(rejected(hub.submit(alice.userId, first.message), "sender_not_joined").currentEpoch).toBe(0);
    hub.join(alice.userId, bob.userId);
    rejected(hub.submit(bob.userId, first.message), "sender_not_owner");
    const addOnly = await alice.commit({ add: [await bob.keyPackage()] });
    rejected(hub.submit(alice.userId, addOnly.message), "needs_update_path");
    expect(hub.roster).toBeNull();
    accepted(hub.submit(alice.userId, first.message));
    expect(hub.roster).toMatchObject({ roomId: ROOM, epoch: 1, leaves: [{ userId: alice.userId, deviceId: "A1" }] });
  });

  it("rejects a group whose ID is not the room ID's bytes", async () => {
    const hub = new Hub();
    const alice = await device("@alice:hub.example", "A1");
    hub.join(alice.userId);
    hub.register(alice);
    await alice.createGroup("!elsewhere:hub.example");
    rejected(hub.submit(alice.userId, (await alice.commit()).message), "wrong_group");
  });

  it("rejects adding a device of a user who is not joined", async () => {
    const { hub, alice } = await populatedRoom();
    const dave = await device("@dave:hub.example", "D1");
    hub.register(dave);
    const add = await alice.commit({ add: [await dave.keyPackage()] });
    expect(rejected(hub.submit(alice.userId, add.message), "add_not_joined").currentEpoch).toBe(2);
    hub.join(dave.userId);
    accepted(hub.submit(alice.userId, add.message));
  });

  it("rejects adding a device without valid device information, or under another signature key", async () => {
    const { hub, alice } = await populatedRoom();
    const dave = await device("@dave:hub.example", "D1");
    hub.join(dave.userId);
    rejected(hub.submit(alice.userId, (await alice.commit({ add: [await dave.keyPackage()] })).message), "add_invalid_device");
    hub.register(dave);
    const impostor = await device("@dave:hub.example", "D1");
    rejected(hub.submit(alice.userId, (await alice.commit({ add: [await impostor.keyPackage()] })).message), "add_invalid_device");
  });

  it("rejects adding a device that is already in the group", async () => {
    const hub = new Hub();
    const alice = await device("@alice:hub.example", "A1");
    const bob = await device("@bob:other.example", "B1");
    hub.join(alice.userId, bob.userId);
    hub.register(alice, bob);
    await alice.createGroup(ROOM);
    accepted(hub.commitBy(alice, await alice.commit()));
    const add = await alice.commit({ add: [await bob.keyPackage()] });
    accepted(hub.commitBy(alice, add));
    // An honest client refuses to do this; a commit replayed into the next epoch tries it anyway.
    const replay = rewriteMessage(add.message, (m) => {
      if (m.wireformat === "mls_public_message") m.publicMessage.content.epoch = 2n;
    });
    rejected(hub.submit(alice.userId, replay), "add_duplicate");
  });
});

describe("MLS roster: one commit per epoch", () => {
  it("rejects a second commit for the same epoch with the current epoch; the loser rebases and wins the next", async () => {
    const { hub, alice, bob1, bob2, carol, all } = await populatedRoom();
    const dave = await device("@dave:hub.example", "D1");
    hub.join(dave.userId);
    hub.register(dave);
    const aliceCommit = await alice.commit({ add: [await dave.keyPackage()] });
    const bobCommit = await bob1.commit({ remove: [bob2.leafIndex] });

    accepted(hub.commitBy(alice, aliceCommit));
    const lost = rejected(hub.commitBy(bob1, bobCommit), "wrong_epoch");
    expect(lost.currentEpoch).toBe(3);
    expect(bob1.epoch).toBe(2);

    await processAll([bob1, bob2, carol], aliceCommit.message);
    await dave.join(aliceCommit.welcome!);
    const rebased = await bob1.commit({ remove: [bob2.leafIndex] });
    expect(rebased.epoch).toBe(3);
    accepted(hub.commitBy(bob1, rebased));
    await processAll([alice, carol, dave], rebased.message);

    expect(hub.roster!.epoch).toBe(4);
    const hello = await dave.encrypt("hello after the race");
    expect(hub.encrypted(dave.userId, hello)).toEqual({ ok: true });
    for (const d of [alice, bob1, carol]) expect(await d.decrypt(hello)).toBe("hello after the race");
    expect(all.filter((d) => d !== bob2).every((d) => d.epoch === 4)).toBe(true);
  });

  it("rejects commits for epochs the group has not reached or has left behind", async () => {
    const { hub, alice } = await populatedRoom();
    const next = await alice.commit();
    for (const epoch of [0n, 1n, 3n, 99n]) {
      const moved = rewriteMessage(next.message, (m) => {
        if (m.wireformat === "mls_public_message") m.publicMessage.content.epoch = epoch;
      });
      expect(rejected(hub.submit(alice.userId, moved), "wrong_epoch").currentEpoch).toBe(2);
    }
  });

  it("rejects a commit whose sender leaf is not a device of the event's sender", async () => {
    const { hub, alice, carol } = await populatedRoom();
    rejected(hub.submit(carol.userId, (await alice.commit()).message), "sender_not_owner");
  });
});
