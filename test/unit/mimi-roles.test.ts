// Participant roles from power levels (shared/mimi-roles.ts): the role index is the user's power level.

import { describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { MAX_ROLE_INDEX, powerLevelsWithRoles, privilegedCreators, roleChangeFor, roleChanges, roleIndexOf, touchedBy } from "../../shared/mimi-roles.js";
import { committedRoleChanges } from "../../durable-objects/room/mimi-participant-roles.js";
import { participantListProposal, participantListUpdateOfProposal, removeProposal, signHubProposal } from "../../shared/mls-hub-proposals.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import { generateSeed } from "../../shared/signing-key.js";
import { decodeAppDataUpdate } from "../../shared/mimi/app-data.js";
import { applyParticipantListUpdate, decodeParticipantListUpdate } from "../../shared/mimi/participant-list.js";
import { userUriOf } from "../../shared/mimi-identifiers.js";

const ALICE = "@alice:hub.example";
const BOB = "@bob:f1.example";
const CAROL = "@carol:p1.example";

describe("a participant's role index from m.room.power_levels", () => {
  it("is users[user] when the user has an entry", () => {
    expect(roleIndexOf({ users: { [ALICE]: 100, [BOB]: 50 }, users_default: 10 }, BOB)).toBe(50);
  });

  it("is users_default for a user without an entry, and 0 when users_default is absent too", () => {
    expect(roleIndexOf({ users: { [ALICE]: 100 }, users_default: 10 }, BOB)).toBe(10);
    expect(roleIndexOf({ users: { [ALICE]: 100 } }, BOB)).toBe(0);
  });

  it("is 0 when the room has no power-levels event", () => {
    expect(roleIndexOf(undefined, ALICE)).toBe(0);
  });

  it("is clamped to the uint32 range: a negative level is 0, a level past 2^32-1 is 2^32-1", () => {
    expect(roleIndexOf({ users: { [ALICE]: -5 } }, ALICE)).toBe(0);
    expect(roleIndexOf({ users_default: -1 }, BOB)).toBe(0);
    expect(roleIndexOf({ users: { [ALICE]: 2 ** 40 } }, ALICE)).toBe(MAX_ROLE_INDEX);
    expect(roleIndexOf({ users: { [ALICE]: MAX_ROLE_INDEX } }, ALICE)).toBe(MAX_ROLE_INDEX);
  });

  it("ignores a malformed entry (not an integer) and falls back to users_default", () => {
    expect(roleIndexOf({ users: { [ALICE]: "100" }, users_default: 3 }, ALICE)).toBe(3);
    expect(roleIndexOf({ users: { [ALICE]: 1.5 }, users_default: "7" }, ALICE)).toBe(0);
    expect(roleIndexOf({ users: [100] }, ALICE)).toBe(0);
    expect(roleIndexOf("not an object", ALICE)).toBe(0);
  });

  it("does not read inherited properties as a user's entry", () => {
    expect(roleIndexOf({ users: {}, users_default: 4 }, "constructor")).toBe(4);
  });
});

describe("the role changes a power-levels change makes", () => {
  const list = [
    { userId: ALICE, role: 100 },
    { userId: BOB, role: 0 },
    { userId: CAROL, role: 0 },
  ];

  it("lists, by list index, only the participants whose role differs", () => {
    expect(roleChanges(list, (u) => (u === BOB ? 50 : u === ALICE ? 100 : 0))).toEqual([{ userIndex: 1, roleIndex: 50 }]);
  });

  it("is nothing when no participant's role changes (a change for a non-participant, or for another field)", () => {
    expect(roleChangeFor(list, { users: { [ALICE]: 100, "@dave:hub.example": 75 }, state_default: 90 })).toBeUndefined();
  });

  it("builds one participant-list update with only changedRoleParticipants, and the list after it", () => {
    const change = roleChangeFor(list, { users: { [ALICE]: 100, [BOB]: 50 }, users_default: 5 });
    expect(change?.update).toEqual({
      changedRoleParticipants: [
        { userIndex: 1, roleIndex: 50 },
        { userIndex: 2, roleIndex: 5 },
      ],
      removedIndices: [],
      addedParticipants: [],
    });
    expect(change?.participants).toEqual([
      { userId: ALICE, role: 100 },
      { userId: BOB, role: 50 },
      { userId: CAROL, role: 5 },
    ]);
  });

  it("is applied by a client to the same list the hub keeps, after the AppDataUpdate's encoding", () => {
    const change = roleChangeFor(list, { users: { [ALICE]: 0, [CAROL]: 20 } });
    if (!change) throw new Error("expected a change");
    const proposal = participantListProposal(change.update);
    if (!("proposalData" in proposal)) throw new Error("not a custom proposal");
    const appData = decodeAppDataUpdate(proposal.proposalData);
    if (!appData.ok || appData.value.op !== "update") throw new Error("not an AppDataUpdate");
    const body = decodeParticipantListUpdate(appData.value.update);
    if (!body.ok) throw new Error(body.error.detail);
    const before = { participants: list.map((p) => ({ user: userUriOf(p.userId), roleIndex: p.role })) };
    const after = applyParticipantListUpdate(before, body.value);
    expect(after).toEqual({ ok: true, list: { participants: change.participants.map((p) => ({ user: userUriOf(p.userId), roleIndex: p.role })) } });
    expect(change.participants.map((p) => p.role)).toEqual([0, 0, 20]);
  });
});

describe("room v12 creators", () => {
  const create = (version: string) => ({ type: "m.room.create", sender: ALICE, state_key: "", content: { room_version: version, additional_creators: [CAROL] } }) as unknown as Pdu;

  it("have the highest role index (their power level is infinite), whatever users_default says", () => {
    const creators = privilegedCreators(create("12"));
    expect([...creators].sort()).toEqual([ALICE, CAROL].sort());
    expect(roleIndexOf({ users: { [BOB]: 50 }, users_default: 0 }, ALICE, creators)).toBe(MAX_ROLE_INDEX);
    expect(roleIndexOf({ users: { [BOB]: 50 } }, BOB, creators)).toBe(50);
  });

  it("are ordinary users in versions where creators hold no special level", () => {
    expect(privilegedCreators(create("11")).size).toBe(0);
    expect(privilegedCreators(undefined).size).toBe(0);
  });
});

describe("a member's committed role change", () => {
  const list = [ALICE, BOB, CAROL];
  const update = (changed: Array<[number, number]>, removed: number[] = []) => ({ changedRoleParticipants: changed.map(([userIndex, roleIndex]) => ({ userIndex, roleIndex })), removedIndices: removed, addedParticipants: [] });

  it("names the users by the hub's list indices", () => {
    expect(committedRoleChanges(list, [update([[2, 40]]), update([[0, 90]])])).toEqual([
      { userId: CAROL, role: 40 },
      { userId: ALICE, role: 90 },
    ]);
  });

  it("is refused (invalidProposal) past the list, for a user changed twice, or for a user the commit also removes", () => {
    expect(committedRoleChanges(list, [update([[3, 1]])])).toMatchObject({ code: "invalidProposal" });
    expect(committedRoleChanges(list, [update([[1, 1]]), update([[1, 2]])])).toMatchObject({ code: "invalidProposal", description: expect.stringContaining("more than once") });
    expect(committedRoleChanges(list, [update([[1, 1]], [1])])).toMatchObject({ code: "invalidProposal" });
  });

  it("is written as power levels giving exactly those roles, keeping every other field and user", () => {
    const current = { users: { [ALICE]: 100, [BOB]: -3 }, users_default: 5, events: { "m.room.power_levels": 50 }, kick: 60 };
    const written = powerLevelsWithRoles(current, [{ userId: CAROL, role: 40 }, { userId: BOB, role: 0 }]);
    expect(written).toEqual({ users: { [ALICE]: 100, [BOB]: 0, [CAROL]: 40 }, users_default: 5, events: { "m.room.power_levels": 50 }, kick: 60 });
    expect([ALICE, BOB, CAROL].map((u) => roleIndexOf(written, u))).toEqual([100, 0, 40]);
    expect(current.users).toEqual({ [ALICE]: 100, [BOB]: -3 }); // the state's content is not changed in place
  });
});

describe("users the pending list updates already touch", () => {
  const add = (...users: string[]) => ({ changedRoleParticipants: [], removedIndices: [], addedParticipants: users.map((u) => ({ user: u, roleIndex: 0 })) });
  const change = (userIndex: number) => ({ changedRoleParticipants: [{ userIndex, roleIndex: 1 }], removedIndices: [], addedParticipants: [] });
  const remove = (...removedIndices: number[]) => ({ changedRoleParticipants: [], removedIndices, addedParticipants: [] });

  it("are the users an update adds (the list's tail) and those it changes, read against the list before it", () => {
    // [alice, bob, carol] -> change bob -> remove alice -> add dave: [bob, carol, dave]
    expect(touchedBy([BOB, CAROL, "@dave:hub.example"], [change(1), remove(0), add("dave")])).toEqual(new Set([BOB, "@dave:hub.example"]));
  });

  it("are nothing without pending updates, and everyone after an installation's update", () => {
    expect(touchedBy([ALICE, BOB], []).size).toBe(0);
    expect(touchedBy([ALICE, BOB], [add("a", "b")])).toEqual(new Set([ALICE, BOB]));
  });

  it("keep their role in a role change, so no commit's updates touch them twice", () => {
    const list = [
      { userId: ALICE, role: 100 },
      { userId: BOB, role: 30 },
    ];
    const change = roleChangeFor(list, { users: { [ALICE]: 90, [BOB]: 35 } }, undefined, new Set([BOB]));
    expect(change?.update.changedRoleParticipants).toEqual([{ userIndex: 0, roleIndex: 90 }]);
    expect(change?.participants).toEqual([
      { userId: ALICE, role: 90 },
      { userId: BOB, role: 30 },
    ]);
    expect(roleChangeFor(list, { users: { [ALICE]: 100, [BOB]: 35 } }, undefined, new Set([BOB]))).toBeUndefined();
  });
});

describe("reading a pending hub proposal's participant-list update", () => {
  it("gives the update of a signed list proposal and nothing for a Remove or bytes that are no MLSMessage", async () => {
    const seed = generateSeed();
    const update = { changedRoleParticipants: [{ userIndex: 1, roleIndex: 7 }], removedIndices: [], addedParticipants: [] };
    const list = await signHubProposal(seed, groupIdOfRoom("!r:hub.example"), 3, participantListProposal(update));
    const remove = await signHubProposal(seed, groupIdOfRoom("!r:hub.example"), 3, removeProposal(1));
    expect(participantListUpdateOfProposal(list.message)).toEqual(update);
    expect(participantListUpdateOfProposal(remove.message)).toBeUndefined();
    expect(participantListUpdateOfProposal(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });
});
