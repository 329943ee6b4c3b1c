// A MIMI participant's role change over the wire (-06 §7.5): a follower's client commits, through
// `update`, a participant-list AppDataUpdate with changedRoleParticipants. A role index is a power
// level here (shared/mimi-roles.ts), so the hub writes the change as the committer's
// m.room.power_levels event: the room's auth rules decide whether the committer may give those levels,
// and LM participants see the change. That commit carries the role change, so the hub proposes none.

import type { JsonObject } from "../../shared/canonical-json.js";
import type { ParticipantListUpdate } from "../../shared/mimi/participant-list.js";
import type { LocalEvent } from "./protocol.js";
import type { Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** What a role change needs of the hub (a slice of MimiHubPorts). */
export interface RolePorts {
  appendVouched(w: Writer, provider: string, sender: string, event: LocalEvent): Promise<Verdict>;
  readonly mls: {
    readonly roles: {
      /** The current power levels with these users at these levels. */
      powerLevelsWith(changes: ReadonlyArray<{ userId: string; role: number }>): JsonObject;
      coveredByCommit<T>(run: () => Promise<T>): Promise<T>;
    };
  };
}

export type RoleRefusal = { code: "invalidProposal" | "notAllowed"; description: string };

/**
 * The role changes of a commit's list updates, read against `list` (the hub's participants, in order):
 * each user at most once and never one the commit also removes (-06 §7.5).
 */
export function committedRoleChanges(list: readonly string[], updates: readonly ParticipantListUpdate[]): Array<{ userId: string; role: number }> | RoleRefusal {
  const removed = new Set(updates.flatMap((u) => u.removedIndices));
  const seen = new Set<number>();
  const out: Array<{ userId: string; role: number }> = [];
  for (const c of updates.flatMap((u) => u.changedRoleParticipants)) {
    const userId = list[c.userIndex];
    if (userId === undefined) return { code: "invalidProposal", description: `participant index ${c.userIndex} is past the ${list.length} participants` };
    if (seen.has(c.userIndex) || removed.has(c.userIndex)) return { code: "invalidProposal", description: `the commit changes ${userId} more than once` };
    seen.add(c.userIndex);
    out.push({ userId, role: c.roleIndex });
  }
  return out;
}

/** Writes the committer's power-levels change for `changes`; a refusal when the auth rules reject it. */
export async function applyRoleChanges(ports: RolePorts, w: Writer, provider: string, committer: string, changes: ReadonlyArray<{ userId: string; role: number }>): Promise<RoleRefusal | undefined> {
  if (changes.length === 0) return undefined;
  const content = ports.mls.roles.powerLevelsWith(changes);
  return ports.mls.roles.coveredByCommit(async () => {
    const v = await ports.appendVouched(w, provider, committer, { type: "m.room.power_levels", state_key: "", content });
    return v.outcome === "rejected" ? { code: "notAllowed", description: `changing roles: ${v.reason}` } : undefined;
  });
}
