import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import { asDeviceId, asUserId } from "../../shared/ids.js";
import { afterHolding, DEFAULT_MEMBER_PROPOSAL_GRACE_MS, deviceKey, judgeMemberProposal, memberProposalGraceMs, stillRequired, type HoldState } from "../../shared/mls-member-proposal-rules.js";

describe("which standalone member proposals the hub may hold", () => {
  const A = { userId: asUserId("@alice:hub.example"), deviceId: asDeviceId("A1") };
  const B = { userId: asUserId("@bob:f1.example"), deviceId: asDeviceId("B1") };
  const C2 = { userId: asUserId("@carol:p1.example"), deviceId: asDeviceId("C2") };
  const key = Uint8Array.of(1, 2, 3);
  const published = encodeBase64(key);
  const joined = new Set<string>([A.userId, B.userId, C2.userId]);
  const state: HoldState = {
    sender: { leaf: 1, ...B },
    leaves: [A, B, null],
    isJoined: (u) => joined.has(u),
    removing: new Set(),
    updating: new Set(),
    adding: new Set(),
  };
  const add = { type: "add" as const, identity: { ...C2, signatureKey: key }, cipherSuite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const };
  const update = { type: "update" as const, identity: { ...B, signatureKey: key }, leaf: 1 };
  const reason = (v: ReturnType<typeof judgeMemberProposal>) => (v.ok ? "held" : v.reason);

  it("holds an Add of a joined user's device that carries its published key and is not yet a member", () => {
    expect(judgeMemberProposal(add, state, published)).toEqual({ ok: true });
    expect(reason(judgeMemberProposal(add, state, null))).toContain("no valid MLS credential");
    expect(reason(judgeMemberProposal(add, state, encodeBase64(Uint8Array.of(9))))).toContain("no valid MLS credential");
    expect(reason(judgeMemberProposal(add, { ...state, isJoined: (u) => u !== C2.userId }, published))).toContain("not joined");
    expect(reason(judgeMemberProposal({ ...add, identity: { ...A, signatureKey: key } }, state, published))).toContain("already a member");
    expect(judgeMemberProposal({ ...add, identity: { ...A, signatureKey: key } }, { ...state, removing: new Set([0]) }, published)).toEqual({ ok: true });
    expect(reason(judgeMemberProposal(add, { ...state, adding: new Set([deviceKey(C2)]) }, published))).toContain("already being added");
  });

  it("holds an Update of the sender's own leaf that keeps its device and published key", () => {
    expect(judgeMemberProposal(update, state, published)).toEqual({ ok: true });
    expect(reason(judgeMemberProposal({ ...update, leaf: 0 }, state, published))).toContain("its sender's own leaf");
    expect(reason(judgeMemberProposal({ ...update, identity: { ...B, deviceId: asDeviceId("B9"), signatureKey: key } }, state, published))).toContain("another device");
    expect(reason(judgeMemberProposal(update, state, encodeBase64(Uint8Array.of(9))))).toContain("published MLS key");
    expect(reason(judgeMemberProposal(update, { ...state, removing: new Set([1]) }, published))).toContain("being removed");
    expect(reason(judgeMemberProposal(update, { ...state, updating: new Set([1]) }, published))).toContain("already has a held Update");
  });

  it("holds a Remove of the sender's own device or a departed user's, never of a leaf being updated", () => {
    expect(judgeMemberProposal({ type: "remove", leaf: 1 }, state, null)).toEqual({ ok: true });
    expect(reason(judgeMemberProposal({ type: "remove", leaf: 0 }, state, null))).toContain("still joined");
    expect(judgeMemberProposal({ type: "remove", leaf: 0 }, { ...state, isJoined: (u) => u !== A.userId }, null)).toEqual({ ok: true });
    expect(reason(judgeMemberProposal({ type: "remove", leaf: 2 }, state, null))).toContain("blank");
    expect(reason(judgeMemberProposal({ type: "remove", leaf: 1 }, { ...state, updating: new Set([1]) }, null))).toContain("held Update");
  });

  it("judges each proposal of a batch against those before it", () => {
    const after = afterHolding(afterHolding(state, update), add);
    expect(reason(judgeMemberProposal(update, after, published))).toContain("already has a held Update");
    expect(reason(judgeMemberProposal(add, after, published))).toContain("already being added");
    expect(reason(judgeMemberProposal({ type: "remove", leaf: 1 }, after, null))).toContain("held Update");
    expect(state.updating.size).toBe(0); // the state before the batch is unchanged
  });
});

describe("how long a held proposal stays required", () => {
  const held = { proposer: "@bob:f1.test", acceptedTs: 10_000 };
  it("requires the hub's own proposals always, and a lapsed one never", () => {
    expect(stillRequired({ acceptedTs: 0 }, 10 ** 12, 1_000)).toBe(true);
    expect(stillRequired({ ...held, lapsed: true }, 10_000, 1_000)).toBe(false);
  });
  it("requires a member's proposal only within the grace after it was held", () => {
    expect(stillRequired(held, 10_999, 1_000)).toBe(true);
    expect(stillRequired(held, 11_000, 1_000)).toBe(false);
    expect(stillRequired(held, 10_000, 0)).toBe(false);
  });
  it("reads MIMI_PROPOSAL_GRACE_MS as non-negative milliseconds, else the default", () => {
    expect(memberProposalGraceMs("2000")).toBe(2_000);
    expect(memberProposalGraceMs("0")).toBe(0);
    for (const bad of [undefined, "", " ", "-1", "soon", "Infinity"]) expect(memberProposalGraceMs(bad)).toBe(DEFAULT_MEMBER_PROPOSAL_GRACE_MS);
  });
});
