// A MIMI participant removal over the wire (-06 §4.3.2): a follower's client commits, through
// `update`, an AppDataUpdate that removes users from the participant list together with the Removes of
// those users' clients. The hub reads the list indices against its own participant list, writes each
// departure as the committer's membership event (so the room's auth rules and power levels decide,
// and LM participants see the kick), and only then the commit. Since that commit is the one removing
// them, the hub proposes nothing of its own for these departures.

import { participantChangesIn } from "../../shared/mls-hub-proposals.js";
import { applyRoleChanges, committedRoleChanges, type RolePorts } from "./mimi-participant-roles.js";
import type { LocalEvent } from "./protocol.js";
import type { Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** What the removal needs of the hub (a slice of MimiHubPorts). */
export interface RemovalPorts {
  appendVouched(w: Writer, provider: string, sender: string, event: LocalEvent): Promise<Verdict>;
  readonly mls: RolePorts["mls"] & {
    epoch(): number;
    participants(): string[];
    leavesOf(userId: string): number[];
    coveredByCommit<T>(users: readonly string[], run: () => Promise<T>): Promise<T>;
  };
}

/** -06 UpdateResponseCode cases a removal can end in. */
export type RemovalRefusal = { code: "invalidProposal" | "notAllowed"; description: string };

/** A refusal, or undefined when the commit may go on to the room's MLS checks (removals, if any, written). */
export async function applyParticipantRemovals(ports: RemovalPorts, w: Writer, provider: string, committer: string, message: Uint8Array): Promise<RemovalRefusal | undefined> {
  const changes = participantChangesIn(message);
  if ("error" in changes) return { code: "invalidProposal", description: changes.error };
  if (changes.listUpdates.length === 0) return undefined;
  // A stale commit changes nothing: the room answers it wrongEpoch.
  if (changes.epoch !== ports.mls.epoch()) return undefined;
  const list = ports.mls.participants();
  const users: string[] = [];
  for (const u of changes.listUpdates) {
    if (u.addedParticipants.length > 0) {
      return { code: "invalidProposal", description: "this hub takes only removals and role changes in a commit's participant-list update; users join through the hub" };
    }
    for (const i of u.removedIndices) {
      const user = list[i];
      if (user === undefined) return { code: "invalidProposal", description: `participant index ${i} is past the ${list.length} participants` };
      if (!users.includes(user)) users.push(user);
    }
  }
  for (const user of users) {
    const kept = ports.mls.leavesOf(user).filter((leaf) => !changes.removedLeaves.includes(leaf));
    if (kept.length > 0) return { code: "invalidProposal", description: `the commit removes ${user} from the participant list but not their clients (leaves ${kept.join(", ")})` };
  }
  const roles = committedRoleChanges(list, changes.listUpdates);
  if ("code" in roles) return roles;
  // -06 §7.5 applies role changes before removals.
  const refused = await applyRoleChanges(ports, w, provider, committer, roles);
  if (refused) return refused;
  return ports.mls.coveredByCommit(users, async () => {
    for (const user of users) {
      const v = await ports.appendVouched(w, provider, committer, { type: "m.room.member", state_key: user, content: { membership: "leave" } });
      if (v.outcome === "rejected") return { code: "notAllowed", description: `removing ${user}: ${v.reason}` };
    }
    return undefined;
  });
}
