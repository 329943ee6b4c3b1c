import { createCommit } from "ts-mls";
import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import { asDeviceId, asUserId } from "../../shared/ids.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { inspectCommit, readEncryptedHeader, type EncryptedHeader } from "../../shared/mls-commit.js";
import {
  applyCommit,
  checkEncrypted,
  deviceInvalidated,
  groupIdOfRoom,
  isMemberDevice,
  pendingRemovals,
  userJoined,
  userLeft,
  type CommitResult,
  type EncryptedCheck,
  type Roster,
} from "../../shared/mls-roster.js";
import { cipherSuite, encodeMessage, MlsDevice, rewriteMessage, type PendingCommit } from "../support/mls-client.js";

const ROOM = "!mls:hub.example";

/** The Room's part, reduced to what the roster needs: joined users, valid devices, one roster. */
class Hub {
  roster: Roster | null = null;
  readonly joined = new Set<string>();
  private readonly devices = new Map<string, string>();

  join(...users: string[]): void {
    for (const u of users) {
      this.joined.add(u);
      if (this.roster) this.roster = userJoined(this.roster, u);
    }
  }

  leave(user: string): void {
    this.joined.delete(user);
    if (this.roster) this.roster = userLeft(this.roster, user);
  }

  /** Publishes valid device information (what /keys/upload would have validated). */
  register(...devices: MlsDevice[]): void {
    for (const d of devices) this.devices.set(`${d.userId}|${d.deviceId}`, encodeBase64(d.signatureKey));
  }

  invalidate(device: MlsDevice): void {
    this.devices.delete(`${device.userId}|${device.deviceId}`);
    if (this.roster) this.roster = deviceInvalidated(this.roster, device.userId, device.deviceId);
  }

  submit(sender: string, message: string): CommitResult {
    const inspected = inspectCommit(message, MLS_DEFAULT_ALGORITHM);
    if (!inspected.ok) throw new Error(`inspection rejected: ${inspected.code}`);
    const result = applyCommit(this.roster, inspected.commit, {
      roomId: ROOM,
      sender,
      isJoined: (u) => this.joined.has(u),
      isValidDevice: (u, d, key) => {
        const published = this.devices.get(`${u}|${d}`);
        return published !== undefined && (key === undefined || published === encodeBase64(key));
      },
    });
    if (result.ok) this.roster = result.roster;
    return result;
  }

  /** Submits a device's commit as its user and adopts it locally when accepted. */
  commitBy(device: MlsDevice, pending: PendingCommit): CommitResult {
    const result = this.submit(device.userId, pending.message);
    if (result.ok) device.confirm(pending);
    return result;
  }

  encrypted(sender: string, ciphertext: string): EncryptedCheck {
    const header = readEncryptedHeader(ciphertext);
    if (!header.ok) throw new Error(`header rejected: ${header.code}`);
    return checkEncrypted(this.roster, header.header, sender, (u) => this.joined.has(u));
  }
}

function accepted(result: CommitResult): Extract<CommitResult, { ok: true }> {
  if (!result.ok) throw new Error(`rejected: ${result.code}: ${result.reason}`);
  return result;
}

function rejected(result: CommitResult | EncryptedCheck, code: string): Extract<CommitResult, { ok: false }> {
  if (result.ok) throw new Error(`accepted, expected ${code}`);
  expect(result.code).toBe(code);
  return result;
}

const device = (user: string, id: string) => MlsDevice.create(user, id);

/** alice creates the group; bob (two devices) and carol are added; everyone is joined and valid. */
async function populatedRoom() {
  const hub = new Hub();
  const alice = await device("@alice:hub.example", "A1");
  const bob1 = await device("@bob:other.example", "B1");
  const bob2 = await device("@bob:other.example", "B2");
  const carol = await device("@carol:other.example", "C1");
  hub.join(alice.userId, bob1.userId, carol.userId);
  hub.register(alice, bob1, bob2, carol);
  await alice.createGroup(ROOM);
  accepted(hub.commitBy(alice, await alice.commit()));
  const add = await alice.commit({ add: [await bob1.keyPackage(), await bob2.keyPackage(), await carol.keyPackage()] });
  accepted(hub.commitBy(alice, add));
  for (const d of [bob1, bob2, carol]) await d.join(add.welcome!);
  return { hub, alice, bob1, bob2, carol, all: [alice, bob1, bob2, carol] };
}

async function processAll(devices: MlsDevice[], message: string): Promise<void> {
  for (const d of devices) await d.processCommit(message);
}

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

describe("MLS roster: removals", () => {
  it("lets a device remove another device of its own user", async () => {
    const { hub, bob1, bob2 } = await populatedRoom();
    const result = accepted(hub.commitBy(bob1, await bob1.commit({ remove: [bob2.leafIndex] })));
    expect(result.removed).toEqual([{ leaf: 2, userId: "@bob:other.example", deviceId: "B2" }]);
    expect(isMemberDevice(hub.roster!, bob2.userId, bob2.deviceId)).toBe(false);
    expect(hub.roster!.leaves[2]).toBeNull();
  });

  it("rejects removing a device of another user who is still joined", async () => {
    const { hub, alice, carol } = await populatedRoom();
    const result = rejected(hub.submit(alice.userId, (await alice.commit({ remove: [carol.leafIndex] })).message), "remove_forbidden");
    expect(result.reason).toContain("@carol:other.example");
  });

  it("lets anyone remove the devices of a user who has left", async () => {
    const { hub, carol, bob1, bob2 } = await populatedRoom();
    hub.leave(bob1.userId);
    const result = accepted(hub.commitBy(carol, await carol.commit({ remove: [bob1.leafIndex, bob2.leafIndex] })));
    expect(result.removed.map((r) => r.deviceId)).toEqual(["B1", "B2"]);
    expect(pendingRemovals(hub.roster!)).toEqual([]);
  });

  it("after a user leaves, rejects the next commit unless it removes all of their devices, naming them", async () => {
    const { hub, alice, bob1, bob2 } = await populatedRoom();
    hub.leave(bob1.userId);
    expect(pendingRemovals(hub.roster!).map((p) => [p.deviceId, p.cause])).toEqual([["B1", "left"], ["B2", "left"]]);
    const without = rejected(hub.submit(alice.userId, (await alice.commit()).message), "pending_removals");
    expect(without.missing).toEqual([
      { leaf: 1, userId: "@bob:other.example", deviceId: "B1" },
      { leaf: 2, userId: "@bob:other.example", deviceId: "B2" },
    ]);
    rejected(hub.submit(alice.userId, (await alice.commit({ remove: [bob1.leafIndex] })).message), "pending_removals");
    accepted(hub.commitBy(alice, await alice.commit({ remove: [bob1.leafIndex, bob2.leafIndex] })));
    expect(hub.roster!.pending).toEqual([]);
  });

  it("lets a pending removal lapse when the user joins again before it is committed", async () => {
    const { hub, alice, carol } = await populatedRoom();
    hub.leave(carol.userId);
    hub.join(carol.userId);
    expect(pendingRemovals(hub.roster!)).toEqual([]);
    accepted(hub.commitBy(alice, await alice.commit()));
  });

  it("requires removing a device whose information became invalid, and refuses its own commits", async () => {
    const { hub, alice, carol } = await populatedRoom();
    hub.invalidate(carol);
    expect(pendingRemovals(hub.roster!)).toEqual([{ leaf: 3, userId: carol.userId, deviceId: "C1", cause: "invalid_device" }]);
    rejected(hub.submit(carol.userId, (await carol.commit()).message), "sender_device_invalid");
    hub.leave(carol.userId);
    hub.join(carol.userId); // rejoining does not make an invalid device valid
    rejected(hub.submit(alice.userId, (await alice.commit()).message), "pending_removals");
    accepted(hub.commitBy(alice, await alice.commit({ remove: [carol.leafIndex] })));
  });

  it("fills the leftmost blank leaf on the next add, as MLS does", async () => {
    const { hub, alice, bob1, bob2, carol } = await populatedRoom();
    const removal = await bob1.commit({ remove: [bob2.leafIndex] });
    accepted(hub.commitBy(bob1, removal));
    await processAll([alice, carol], removal.message);
    const bob3 = await device("@bob:other.example", "B3");
    hub.register(bob3);
    const add = await alice.commit({ add: [await bob3.keyPackage()] });
    expect(accepted(hub.commitBy(alice, add)).added).toEqual([{ leaf: 2, userId: "@bob:other.example", deviceId: "B3" }]);
    expect(alice.leafOf(bob3.userId, "B3")).toBe(2);
  });
});

describe("MLS roster: rules on the commit's shape", () => {
  const A = { userId: asUserId("@alice:hub.example"), deviceId: asDeviceId("A1") };
  const B = { userId: asUserId("@bob:other.example"), deviceId: asDeviceId("B1") };
  const roster: Roster = { roomId: ROOM, epoch: 5, leaves: [A, B], pending: [], removalEpoch: 0 };
  const ctx = { roomId: ROOM, sender: A.userId, isJoined: () => true, isValidDevice: () => true };
  const key = Uint8Array.of(7);
  const commit = (proposals: Parameters<typeof applyCommit>[1]["proposals"], extra = {}) => ({
    groupId: groupIdOfRoom(ROOM),
    epoch: 5,
    senderLeaf: 0,
    proposals,
    ...extra,
  });

  it("rejects an Update by value, a self-removal, a blank or repeated removal, and ReInit/ExternalInit", () => {
    rejected(applyCommit(roster, commit([{ type: "update", identity: { ...A, signatureKey: key } }]), ctx), "update_by_value");
    rejected(applyCommit(roster, commit([{ type: "remove", leaf: 0 }]), ctx), "self_remove");
    rejected(applyCommit(roster, commit([{ type: "remove", leaf: 7 }]), ctx), "remove_blank");
    const twice = commit([{ type: "remove", leaf: 1 }, { type: "remove", leaf: 1 }]);
    rejected(applyCommit(roster, twice, { ...ctx, isJoined: (u: string) => u !== B.userId }), "duplicate_remove");
    for (const name of ["reinit", "external_init"]) rejected(applyCommit(roster, commit([{ type: "other", name }]), ctx), "unsupported_proposal");
  });

  it("accepts proposals that change no leaf, and moves to the next epoch", () => {
    const result = accepted(applyCommit(roster, commit([{ type: "other", name: "psk" }, { type: "other", name: "group_context_extensions" }]), ctx));
    expect(result.roster).toEqual({ ...roster, epoch: 6 });
  });

  it("rejects an UpdatePath that would make the committer another device", () => {
    const other = commit([], { pathIdentity: { ...A, deviceId: asDeviceId("A2"), signatureKey: key } });
    rejected(applyCommit(roster, other, ctx), "identity_changed");
  });

  it("applies removals before adds, drops trailing blank leaves, and appends when no leaf is blank", () => {
    const wide: Roster = { ...roster, leaves: [A, B, { userId: B.userId, deviceId: "B2" }] };
    const C = { userId: asUserId("@carol:other.example"), deviceId: asDeviceId("C1"), signatureKey: key };
    const D = { userId: asUserId("@dave:other.example"), deviceId: asDeviceId("D1"), signatureKey: key };
    const result = accepted(
      applyCommit(wide, commit([{ type: "add", identity: C, cipherSuite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" }, { type: "remove", leaf: 2 }], { senderLeaf: 1 }), { ...ctx, sender: B.userId }),
    );
    expect(result.added).toEqual([{ leaf: 2, userId: C.userId, deviceId: "C1" }]);
    const trimmed = accepted(applyCommit(wide, commit([{ type: "remove", leaf: 2 }], { senderLeaf: 1 }), { ...ctx, sender: B.userId }));
    expect(trimmed.roster.leaves).toEqual([A, B]);
    expect(trimmed.roster.removalEpoch).toBe(6);
    const appended = accepted(applyCommit(roster, commit([{ type: "add", identity: D, cipherSuite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" }]), ctx));
    expect(appended.added).toEqual([{ leaf: 2, userId: D.userId, deviceId: "D1" }]);
  });
});

describe("MLS roster: m.room.encrypted", () => {
  it("accepts application messages from joined users at the current epoch", async () => {
    const { hub, bob1, alice } = await populatedRoom();
    const message = await bob1.encrypt("hi all");
    expect(hub.encrypted(bob1.userId, message)).toEqual({ ok: true });
    expect(await alice.decrypt(message)).toBe("hi all");
  });

  it("rejects messages from users who are not joined, for another group, or that are not application data", async () => {
    const { hub, alice, carol } = await populatedRoom();
    const message = await carol.encrypt("still here?");
    hub.leave(carol.userId);
    rejected(hub.encrypted(carol.userId, message), "sender_not_joined");

    const stranger = await device("@alice:hub.example", "A9");
    await stranger.createGroup("!other:hub.example");
    rejected(hub.encrypted(alice.userId, await stranger.encrypt("wrong room")), "wrong_group");

    const hidden = await createCommit({ state: alice.state, cipherSuite: await cipherSuite() }, { wireAsPublicMessage: false });
    rejected(hub.encrypted(alice.userId, encodeMessage(hidden.commit)), "not_application");
  });

  it("accepts only epochs from the last removal up to the current one", async () => {
    const { hub, alice, bob1, bob2, carol } = await populatedRoom();
    const header = (epoch: number): EncryptedHeader => ({ groupId: groupIdOfRoom(ROOM), epoch, contentType: "application" });
    const isJoined = (u: string) => hub.joined.has(u);
    expect(checkEncrypted(hub.roster, header(0), alice.userId, isJoined)).toEqual({ ok: true });
    expect(rejected(checkEncrypted(hub.roster, header(3), alice.userId, isJoined), "epoch_not_reached").currentEpoch).toBe(2);

    const removal = await bob1.commit({ remove: [bob2.leafIndex] });
    accepted(hub.commitBy(bob1, removal));
    await processAll([alice, carol], removal.message);
    rejected(checkEncrypted(hub.roster, header(2), alice.userId, isJoined), "epoch_before_removal");
    expect(checkEncrypted(hub.roster, header(3), alice.userId, isJoined)).toEqual({ ok: true });
    rejected(checkEncrypted(null, header(0), alice.userId, isJoined), "no_group");
  });

  it("rejects every encrypted message while a removal is pending", async () => {
    const { hub, alice, carol } = await populatedRoom();
    hub.leave(carol.userId);
    const result = rejected(hub.encrypted(alice.userId, await alice.encrypt("carol must not read this")), "pending_removals");
    expect(result.missing).toEqual([{ leaf: 3, userId: carol.userId, deviceId: "C1" }]);
  });

  it("a kicked user's device, once removed, cannot decrypt what is sent after the removal", async () => {
    const { hub, alice, bob1, bob2, carol } = await populatedRoom();
    const before = await alice.encrypt("before the kick");
    expect(hub.encrypted(alice.userId, before)).toEqual({ ok: true });
    expect(await carol.decrypt(before)).toBe("before the kick");

    hub.leave(carol.userId); // kicked
    const removal = await alice.commit({ remove: [carol.leafIndex] });
    accepted(hub.commitBy(alice, removal));
    await processAll([bob1, bob2], removal.message);

    const after = await alice.encrypt("after the kick");
    expect(hub.encrypted(alice.userId, after)).toEqual({ ok: true });
    expect(await bob1.decrypt(after)).toBe("after the kick");
    expect(await bob2.decrypt(after)).toBe("after the kick");
    // Without the removal commit carol is an epoch behind; with it she knows she is out. Neither decrypts.
    await expect(carol.decrypt(after)).rejects.toThrow();
    // What she can still encrypt under her last epoch is refused, even were she to rejoin.
    const ghost = await carol.encrypt("ghost");
    rejected(hub.encrypted(carol.userId, ghost), "sender_not_joined");
    hub.join(carol.userId);
    rejected(hub.encrypted(carol.userId, ghost), "epoch_before_removal");
    await carol.processCommit(removal.message);
    expect(carol.state.groupActiveState.kind).toBe("removedFromGroup");
    await expect(carol.decrypt(after)).rejects.toThrow();
  });
});
