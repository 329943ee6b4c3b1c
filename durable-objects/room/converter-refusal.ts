// A commit the paired LM room refused. The Matrix room checks no MLS, so a commit sent there is
// accepted there even when the LM hub, whose order the group follows, refuses it (most often
// because another commit won that epoch). The converter says so in the room the commit came from:
// its service user sends a notice naming the commit and the reason, so clients there know not to
// adopt it (docs/converter-membership.md).

import type { LocalEvent } from "./protocol.js";
import { MLS_COMMIT_EVENT } from "../../shared/room-encryption.js";
import type { ConversionItem } from "./converter.js";

export const COMMIT_REFUSED_EVENT = "io.switchboard.mls.commit_refused";

/** The notice for `item` refused by `targetRoom`, or undefined when it was not a commit. */
export function commitRefusal(item: ConversionItem, targetRoom: string, reason: string): { event: LocalEvent; txnId: string } | undefined {
  const { type } = JSON.parse(item.pduJson) as { type?: unknown };
  if (type !== MLS_COMMIT_EVENT) return undefined;
  // Reasons are the engine's own text, but bound them: they land in a room event.
  const content = { commit_event_id: item.eventId, refused_in: targetRoom, reason: reason.slice(0, 500) };
  return { event: { type: COMMIT_REFUSED_EVENT, content }, txnId: `commit-refused:${item.eventId}` };
}
