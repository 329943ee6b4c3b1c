// The participant list's update rules (MIMI -06 §7.5): role changes, then removals, then appends; one
// change per user per update.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyParticipantListUpdate,
  decodeAppDataUpdate,
  decodeParticipantListUpdate,
  encodeAppDataUpdate,
  encodeParticipantListUpdate,
  participantListUpdateFor,
  COMPONENT_ID,
  type ParticipantListData,
} from "../../shared/mimi/index.js";

const list: ParticipantListData = {
  participants: [
    { user: "mimi://a.example/u/alice", roleIndex: 2 },
    { user: "mimi://b.example/u/bob", roleIndex: 4 },
    { user: "mimi://c.example/u/cathy", roleIndex: 4 },
  ],
};

describe("participant list updates", () => {
  it("applies role changes, then removals, then appends in order", () => {
    const v = applyParticipantListUpdate(list, {
      changedRoleParticipants: [{ userIndex: 2, roleIndex: 3 }],
      removedIndices: [1],
      addedParticipants: [{ user: "mimi://d.example/u/dan", roleIndex: 4 }],
    });
    expect(v).toEqual({
      ok: true,
      list: {
        participants: [
          { user: "mimi://a.example/u/alice", roleIndex: 2 },
          { user: "mimi://c.example/u/cathy", roleIndex: 3 },
          { user: "mimi://d.example/u/dan", roleIndex: 4 },
        ],
      },
    });
  });

  it("refuses an update that touches one user twice, points past the list, or re-adds a participant", () => {
    expect(applyParticipantListUpdate(list, { changedRoleParticipants: [{ userIndex: 1, roleIndex: 1 }], removedIndices: [1], addedParticipants: [] }).ok).toBe(false);
    expect(applyParticipantListUpdate(list, { changedRoleParticipants: [], removedIndices: [3], addedParticipants: [] }).ok).toBe(false);
    expect(applyParticipantListUpdate(list, { changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: "mimi://b.example/u/bob", roleIndex: 1 }] }).ok).toBe(false);
    // removing and re-adding the same user in one update is two changes to one user
    expect(applyParticipantListUpdate(list, { changedRoleParticipants: [], removedIndices: [1], addedParticipants: [{ user: "mimi://b.example/u/bob", roleIndex: 1 }] }).ok).toBe(false);
    const dup = { user: "mimi://d.example/u/dan", roleIndex: 4 };
    expect(applyParticipantListUpdate(list, { changedRoleParticipants: [], removedIndices: [], addedParticipants: [dup, dup] }).ok).toBe(false);
  });

  it("participantListUpdateFor builds the update a hub proposes for a join and a leave", () => {
    const u = participantListUpdateFor(list, { add: [{ user: "mimi://d.example/u/dan", roleIndex: 4 }], remove: ["mimi://b.example/u/bob"] });
    expect(u).toEqual({ changedRoleParticipants: [], removedIndices: [1], addedParticipants: [{ user: "mimi://d.example/u/dan", roleIndex: 4 }] });
    const applied = applyParticipantListUpdate(list, u);
    expect(applied.ok && applied.list.participants.map((p) => p.user)).toEqual([
      "mimi://a.example/u/alice",
      "mimi://c.example/u/cathy",
      "mimi://d.example/u/dan",
    ]);
  });

  it("travels as an AppDataUpdate for component 0x0022 and comes back the same", () => {
    const u = participantListUpdateFor(list, { remove: ["mimi://c.example/u/cathy"] });
    const proposal = encodeAppDataUpdate({ componentId: COMPONENT_ID.participantList, op: "update", update: encodeParticipantListUpdate(u) });
    const back = decodeAppDataUpdate(proposal);
    if (!back.ok || back.value.op !== "update") throw new Error("not an update");
    expect(back.value.componentId).toBe(0x0022);
    expect(decodeParticipantListUpdate(back.value.update)).toEqual({ ok: true, value: u });
  });

  it("any sequence of joins and leaves keeps every user at most once", () => {
    const users = fc.constantFrom("u1", "u2", "u3", "u4", "u5");
    fc.assert(
      fc.property(fc.array(fc.record({ join: fc.boolean(), user: users }), { maxLength: 20 }), (steps) => {
        let current: ParticipantListData = { participants: [] };
        for (const s of steps) {
          const present = current.participants.some((p) => p.user === s.user);
          const u = s.join ? participantListUpdateFor(current, { add: [{ user: s.user, roleIndex: 1 }] }) : participantListUpdateFor(current, { remove: [s.user] });
          const v = applyParticipantListUpdate(current, u);
          expect(v.ok).toBe(!(s.join && present));
          if (v.ok) current = v.list;
          expect(new Set(current.participants.map((p) => p.user)).size).toBe(current.participants.length);
          expect(current.participants.some((p) => p.user === s.user)).toBe(s.join);
        }
      }),
    );
  });
});
