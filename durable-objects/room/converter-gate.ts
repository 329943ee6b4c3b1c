// Events carrying provenance that reach an LM room we order from other servers: accepted only from
// a converter the room's pairing names, and a second copy of one (two converters bridging the same
// rooms both send it) is answered as a duplicate - not re-appended, not fanned out, not failed. So is
// one whose provenance chain runs through this room already (L -> D -> L): it is the event it started from.

import { dedupKeyOf } from "../../shared/converter/dedup-key.js";
import { hasProvenance, provenanceChain, readProvenance } from "../../shared/converter/provenance.js";
import { isNamedConverter } from "../../shared/converter/pairing.js";
import { pairingsOf } from "./converter.js";
import type { DedupKeys } from "./converter-dedup-keys.js";
import type { RoomCore } from "./core.js";
import type { InboundItem } from "./protocol.js";
import { rejected, type Verdict } from "./verdict.js";

export interface Screened {
  kept: InboundItem[];
  answered: Array<{ id: string; verdict: Verdict }>;
  /** Item ID -> dedup key, for the kept items that carry provenance. */
  keys: Map<string, string>;
}

export async function screenProvenance(core: RoomCore, origin: string, items: readonly InboundItem[], dedup: DedupKeys): Promise<Screened> {
  const out: Screened = { kept: [], answered: [], keys: new Map() };
  let pairings;
  for (const item of items) {
    const event = item.lpdu ?? item.pdu;
    if (!event || !hasProvenance(event.content)) {
      out.kept.push(item);
      continue;
    }
    pairings ??= pairingsOf(core.state);
    const block = readProvenance(event.content);
    if (!isNamedConverter(pairings, origin) || !block || !pairings.some((p) => p.peerRoomId === block.room_id)) {
      out.answered.push({ id: item.id, verdict: rejected("converter", `${origin} is not a converter this room's pairing names for events from ${block?.room_id ?? "an unreadable origin"}`) });
      continue;
    }
    const here = provenanceChain(event.content)?.find((hop) => hop.roomId === core.roomId);
    if (here !== undefined) {
      out.answered.push({ id: item.id, verdict: { outcome: "duplicate", eventId: here.eventId } });
      continue;
    }
    const key = await dedupKeyOf(event, core.roomId, item.id);
    const known = key === undefined ? undefined : dedup.eventWithKey(key);
    if (known !== undefined) {
      out.answered.push({ id: item.id, verdict: { outcome: "duplicate", eventId: known } });
      continue;
    }
    if (key !== undefined) out.keys.set(item.id, key);
    out.kept.push(item);
  }
  return out;
}

/** Remembers the keys of the screened items the protocol accepted. */
export function rememberAccepted(dedup: DedupKeys, screened: Screened, results: ReadonlyArray<{ id: string; verdict: Verdict }>, now: number): void {
  for (const { id, verdict } of results) {
    const key = screened.keys.get(id);
    if (key !== undefined && verdict.outcome === "accepted") dedup.putKey(key, verdict.eventId, now);
  }
}
