// MLS across a converter: an m.room.encrypted names the m.mls.commit that started its epoch
// (`commit_event_id`), and that commit has another event ID in the paired room. The converting
// room hands the referenced commit along with the message; the paired room finds its own copy of
// it - the original, when the commit came from there (its provenance chain names this room), or
// the copy it imported (remembered under the commit's origin) - and the message crosses naming that one. The
// ciphertext is untouched; the original content, with the original reference, stays in the block.

import type { JsonObject } from "../../shared/canonical-json.js";
import type { Conversion } from "../../shared/converter/convert.js";
import { dedupKeyOf } from "../../shared/converter/dedup-key.js";
import { convertedContent, PROVENANCE_KEY, provenanceChain } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import { ENCRYPTED_EVENT, MLS_COMMIT_EVENT } from "../../shared/room-encryption.js";
import type { RoomVersion } from "../../shared/room-version.js";
import type { DedupKeys } from "./converter-dedup-keys.js";


/**
 * The key under which a room remembers its copy of a commit from the paired room. An epoch can
 * outlast the dedup window, so these keys are never pruned (COMMIT_COPY_PREFIX in
 * room-converter-storage.ts); there is one per commit, and commits are few.
 */
export const COMMIT_COPY_PREFIX = "mls-commit:";
const commitCopyKey = (roomId: string, eventId: string): string => `${COMMIT_COPY_PREFIX}${roomId} ${eventId}`;

/** Target side, after an import: remembers `localId` as this room's copy of commit `eventId` of `sourceRoomId`. */
export function rememberCommitCopy(keys: DedupKeys, type: string, sourceRoomId: string, eventId: string, localId: string): void {
  if (type === MLS_COMMIT_EVENT) keys.putKey(commitCopyKey(sourceRoomId, eventId), localId, Date.now());
}

const commitRef = (pdu: Pdu): string | undefined => {
  const ref = pdu.type === ENCRYPTED_EVENT ? pdu.content["commit_event_id"] : undefined;
  return typeof ref === "string" ? ref : undefined;
};

/** Source side: the commit `pdu` refers to, as JSON to travel with it; undefined when none is held. */
export function referencedCommitJson(pdu: Pdu, eventById: (id: string) => Pdu | undefined): string | undefined {
  const ref = commitRef(pdu);
  const commit = ref === undefined ? undefined : eventById(ref);
  return commit ? JSON.stringify(commit) : undefined;
}

export interface CommitSource {
  sourceRoomId: string;
  eventId: string;
  version: RoomVersion;
  pdu: Pdu;
  commitJson?: string | undefined;
}

/** Target side: this room's event ID of the commit `src` refers to, when it holds one. */
async function localCommitId(src: CommitSource, roomId: string, keys: Pick<DedupKeys, "eventWithKey">): Promise<string | undefined> {
  const ref = commitRef(src.pdu);
  if (ref === undefined || src.commitJson === undefined) return undefined;
  const commit = JSON.parse(src.commitJson) as Pdu;
  const home = provenanceChain(commit.content)?.find((hop) => hop.roomId === roomId);
  if (home) return home.eventId;
  const copy = keys.eventWithKey(commitCopyKey(src.sourceRoomId, ref));
  if (copy !== undefined) return copy;
  // A copy a second converter wrote (converter-gate.ts) is known by its ciphertext key only.
  const key = await dedupKeyOf(commit, src.sourceRoomId, ref);
  return key === undefined ? undefined : keys.eventWithKey(key);
}

/** `c` with `commit_event_id` naming this room's copy of the commit; unchanged when there is none. */
export async function withLocalCommit(c: Conversion, src: CommitSource, roomId: string, keys: Pick<DedupKeys, "eventWithKey">): Promise<Conversion> {
  const local = await localCommitId(src, roomId, keys);
  if (local === undefined || local === commitRef(src.pdu)) return c;
  const { [PROVENANCE_KEY]: _block, ...original } = src.pdu.content;
  const replacement: JsonObject = { ...original, commit_event_id: local };
  return { ...c, content: convertedContent(src.pdu, src.eventId, src.sourceRoomId, src.version, replacement) };
}
