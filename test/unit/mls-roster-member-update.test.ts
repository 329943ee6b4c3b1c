import { describe, expect, it } from "vitest";
import { asDeviceId, asUserId } from "../../shared/ids.js";
import { applyCommit, groupIdOfRoom, type Roster } from "../../shared/mls-roster.js";
import { ROOM, accepted, rejected } from "./mls-roster-hub.js";

describe("MLS roster: a member's Update by reference", () => {
  const A = { userId: asUserId("@alice:hub.example"), deviceId: asDeviceId("A1") };
  const B = { userId: asUserId("@bob:other.example"), deviceId: asDeviceId("B1") };
  const roster: Roster = { roomId: ROOM, epoch: 5, leaves: [A, B], pending: [], removalEpoch: 0 };
  const key = Uint8Array.of(7);
  // Bob's published key is `key`; nothing else is valid with a signature key.
  const ctx = { roomId: ROOM, sender: A.userId, isJoined: () => true, isValidDevice: (u: string, _d: string, k?: Uint8Array) => k === undefined || (u === B.userId && k[0] === 7) };
  const commit = (proposals: Parameters<typeof applyCommit>[1]["proposals"]) => ({ groupId: groupIdOfRoom(ROOM), epoch: 5, senderLeaf: 0, proposals });
  const bobsUpdate = { type: "update" as const, identity: { ...B, signatureKey: key }, leaf: 1 };

  it("accepts another member's Update of its own leaf, judged by that member's rights, and keeps the leaves", () => {
    const result = accepted(applyCommit(roster, commit([bobsUpdate]), ctx));
    expect(result.roster).toEqual({ ...roster, epoch: 6 });
    expect(result.added).toEqual([]);
    expect(result.removed).toEqual([]);
  });

  it("still refuses an Update by value and the committer's own Update", () => {
    rejected(applyCommit(roster, commit([{ type: "update", identity: { ...B, signatureKey: key } }]), ctx), "update_by_value");
    rejected(applyCommit(roster, commit([{ type: "update", identity: { ...A, signatureKey: key }, leaf: 0 }]), ctx), "update_by_value");
  });

  it("refuses an Update that changes the device, names a blank leaf, has another signature key, or whose user left", () => {
    rejected(applyCommit(roster, commit([{ ...bobsUpdate, identity: { ...B, deviceId: asDeviceId("B2"), signatureKey: key } }]), ctx), "identity_changed");
    rejected(applyCommit(roster, commit([{ ...bobsUpdate, leaf: 4 }]), ctx), "update_forbidden");
    rejected(applyCommit(roster, commit([{ ...bobsUpdate, identity: { ...B, signatureKey: Uint8Array.of(8) } }]), ctx), "update_forbidden");
    rejected(applyCommit(roster, commit([bobsUpdate]), { ...ctx, isJoined: (u: string) => u !== B.userId }), "update_forbidden");
  });

  it("refuses an Update beside a Remove of the same leaf, or twice", () => {
    const gone = { ...ctx, isJoined: (u: string) => u !== B.userId };
    rejected(applyCommit(roster, commit([bobsUpdate, { type: "remove", leaf: 1 }]), gone), "update_conflict");
    rejected(applyCommit(roster, commit([bobsUpdate, bobsUpdate]), ctx), "update_conflict");
  });
});
