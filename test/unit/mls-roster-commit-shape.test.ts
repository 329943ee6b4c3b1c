import { describe, expect, it } from "vitest";
import { asDeviceId, asUserId } from "../../shared/ids.js";
import { applyCommit, groupIdOfRoom, type Roster } from "../../shared/mls-roster.js";
import { ROOM, accepted, rejected } from "./mls-roster-hub.js";

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

  it("refuses a proposal reference the hub did not resolve, and lets the hub's own Remove take a joined user's device", () => {
    rejected(applyCommit(roster, commit([{ type: "reference", ref: key }]), ctx), "proposal_by_reference");
    rejected(applyCommit(roster, commit([{ type: "remove", leaf: 1 }]), ctx), "remove_forbidden");
    const result = accepted(applyCommit(roster, commit([{ type: "remove", leaf: 1, byHub: true }]), ctx));
    expect(result.removed).toEqual([{ leaf: 1, ...B }]);
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
