import { describe, expect, it } from "vitest";
import { isMemberDevice, pendingRemovals } from "../../shared/mls-roster.js";
import { accepted, rejected, device, populatedRoom, processAll } from "./mls-roster-hub.js";

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
