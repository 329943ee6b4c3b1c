// A full-mesh room cannot refuse at receipt an event every other server accepts. A provenance copy
// from a server its pairing does not name is soft-failed here instead: stored, but not shown to
// clients, never a parent of ours and never converted, so the conversation shows each event once.

import { isNamedConverter } from "../../shared/converter/pairing.js";
import { hasProvenance } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import { serverNameOf } from "../../shared/ids.js";
import type { RoomState } from "../../shared/room-state.js";
import { pairingsOf } from "./converter.js";

/** Why a received `pdu` is soft-failed in a paired full-mesh room; undefined when it is not. */
export function unnamedConverterCopy(state: RoomState): (pdu: Pdu) => string | undefined {
  return (pdu) => {
    if (!hasProvenance(pdu.content)) return undefined;
    const pairings = pairingsOf(state);
    const origin = serverNameOf(pdu.sender);
    if (pairings.length === 0 || isNamedConverter(pairings, origin)) return undefined;
    return `${origin} is not a converter this room's pairing names`;
  };
}
