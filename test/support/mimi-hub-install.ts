// The one way tests and the MIMI bench make a room's MLS group take MIMI participants: the hub must be
// the group's external sender first (docs/mimi.md "Participant list"). The group's creator establishes
// the group if it has not yet, commits the GroupContextExtensions naming the hub's ExternalSender, and
// takes the hub's participant-list proposal, so its next commit includes it by reference.

import { decodeBase64 } from "../../shared/base64.js";
import { MlsDevice, type PendingCommit } from "./mls-client.js";

/** What the installing client can do on the hub; `sendCommit` adopts the commit once accepted. */
export interface HubInstallIo {
  readonly mls: MlsDevice;
  /** GET .../org.switchboard.mimi/rooms/{roomId}/external_sender, as a joined member. */
  externalSender(): Promise<{ external_sender: string; installed: boolean; pending_proposals: string[] }>;
  /** Sends an m.mls.commit and confirms it; its event ID. */
  sendCommit(pending: PendingCommit): Promise<string>;
}

/** Returns the install commit's event ID and the hub's proposals it led to (already taken by `io.mls`). */
export async function installHubAsExternalSender(io: HubInstallIo): Promise<{ commitEventId: string; proposals: string[] }> {
  // A group's first commit must carry an UpdatePath, which ts-mls leaves out of a GroupContextExtensions-only commit.
  if (io.mls.epoch === 0) await io.sendCommit(await io.mls.commit());
  const { external_sender: sender } = await io.externalSender();
  const commitEventId = await io.sendCommit(await io.mls.commit({ extra: [MlsDevice.installExternalSender(decodeBase64(sender))] }));
  const after = await io.externalSender();
  if (!after.installed) throw new Error("the hub did not record its installation");
  for (const p of after.pending_proposals) await io.mls.processProposal(p);
  return { commitEventId, proposals: after.pending_proposals };
}
