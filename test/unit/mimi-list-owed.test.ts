import { describe, expect, it } from "vitest";
import { userUriOf } from "../../shared/mimi-identifiers.js";
import { owedListUpdate, touchedThisEpoch } from "../../shared/mimi-list-owed.js";
import { applyParticipantListUpdate } from "../../shared/mimi/participant-list.js";

const A = "@alice:hub.example";
const B = "@bob:f1.example";
const C = "@carol:p1.example";
const D = "@dave:hub.example";

describe("the participant-list update owed after a commit", () => {
  it("owes nothing when the list already matches the joined users and their roles", () => {
    expect(owedListUpdate([{ userId: A, role: 100 }, { userId: B, role: 0 }], [A, B], (u) => (u === A ? 100 : 0))).toBeUndefined();
  });

  it("removes the users no longer joined, adds the joined ones not listed, changes the roles that differ: each user once", () => {
    const list = [{ userId: A, role: 100 }, { userId: B, role: 0 }, { userId: C, role: 0 }];
    const roles: Record<string, number> = { [A]: 100, [C]: 50, [D]: 5 };
    const owed = owedListUpdate(list, [A, C, D], (u) => roles[u] ?? 0);
    expect(owed?.update).toEqual({ changedRoleParticipants: [{ userIndex: 2, roleIndex: 50 }], removedIndices: [1], addedParticipants: [{ user: userUriOf(D), roleIndex: 5 }] });
    expect(owed?.participants).toEqual([{ userId: A, role: 100 }, { userId: C, role: 50 }, { userId: D, role: 5 }]);
    // A client applying the update to the same list gets the same list.
    const applied = applyParticipantListUpdate({ participants: list.map((p) => ({ user: userUriOf(p.userId), roleIndex: p.role })) }, owed!.update);
    expect(applied.ok && applied.list.participants).toEqual(owed!.participants.map((p) => ({ user: userUriOf(p.userId), roleIndex: p.role })));
  });

  it("counts as touched this epoch the users pending updates add or change and the users pending removals name", () => {
    const list = [{ userId: A, role: 100 }, { userId: B, role: 0 }];
    const addB = { changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userUriOf(B), roleIndex: 0 }] };
    expect([...touchedThisEpoch(list, [addB], [])]).toEqual([B]);
    expect([...touchedThisEpoch(list, [], [C])]).toEqual([C]);
    const changeA = { changedRoleParticipants: [{ userIndex: 0, roleIndex: 100 }], removedIndices: [], addedParticipants: [] };
    expect(touchedThisEpoch(list, [changeA], []).has(A)).toBe(true);
  });
});
