// Both ends of carrying the hub's proposals to LM participants (docs/mimi.md "Participant list"): the
// hub puts the proposals an accepted commit includes by reference into the PDU's `unsigned`; a
// participant checks them against the hub's key, which it reads from the commit that installed it (the
// first that names an external sender: the hub refuses any other sender and any later change), and
// resolves the references.

import { encodeBase64 } from "../shared/base64.js";
import type { Pdu } from "../shared/event.js";
import type { InspectedCommit } from "../shared/mls-commit.js";
import { HUB_PROPOSALS_UNSIGNED, hubKeyInstalledBy, resolveHubReferences } from "../shared/mls-hub-references.js";

/** Hub: the proposals travel with the stored PDU, so fan-out and backfill both carry them. */
export function carryHubProposals(pdu: Pdu, carried: readonly Uint8Array[] | undefined): void {
  if (!carried?.length) return;
  pdu.unsigned = { ...(pdu.unsigned ?? {}), [HUB_PROPOSALS_UNSIGNED]: carried.map(encodeBase64) };
}

export interface InstallingCommits {
  commitInto(epoch: number): string | undefined;
  eventById(eventId: string): Pdu | undefined;
  /** The user at a leaf of the roster (a member proposal's sender). */
  memberOf(leaf: number): string | undefined;
}

/** Participant: the commit with the hub's carried proposals resolved; unchanged when the hub's key is unknown. */
export async function resolveCarried(commit: InspectedCommit, pdu: Pdu, commits: InstallingCommits): Promise<InspectedCommit> {
  if (!commit.proposals.some((p) => p.type === "reference")) return commit;
  // Oldest first: most groups install the hub with their first commits, so the scan ends early.
  let key: Uint8Array | undefined;
  for (let epoch = 1; epoch <= commit.epoch && key === undefined; epoch++) {
    const id = commits.commitInto(epoch);
    const installing = id === undefined ? undefined : commits.eventById(id);
    key = installing ? hubKeyInstalledBy(installing.content["message"]) : undefined;
  }
  return key ? resolveHubReferences(commit, pdu.unsigned?.[HUB_PROPOSALS_UNSIGNED], key, (leaf) => commits.memberOf(leaf)) : commit;
}
