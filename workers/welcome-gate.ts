// Welcome release (docs/mls-membership.md "Welcome release"): an MLS Welcome is a to-device
// `m.room.encrypted` whose `algorithm` starts with `m.mls.v1.welcome` and which names the commit that
// added its recipient (`commit_event_id`). A Welcome for a commit that lost its epoch would put its
// recipient into a group state that does not exist, so the sender's server passes a Welcome on only
// once that commit is an accepted m.mls.commit. Until then the room holds it, and drops it if the
// commit is not accepted within the hold period (Room.holdWelcome). Welcomes for users of the room's
// MIMI followers are sent by the room the MIMI way (durable-objects/room/mimi-welcome.ts), never as to-device.
//
// The room is the Welcome's optional `room_id`; without one, the event index (D1 `event_rooms`), then
// the sender's joined rooms are asked. A Welcome whose room cannot be found this way names a commit no
// room of the sender's has accepted, and no room could be told to hold it: it is dropped.

import type { JsonObject } from "../shared/canonical-json.js";
import { badJson } from "../shared/errors.js";
import { isEventId, isRoomId } from "../shared/ids.js";
import { roomOfEvent } from "./storage/rooms.js";
import type { LocalToDevice } from "./to-device.js";

export const WELCOME_ALGORITHM_PREFIX = "m.mls.v1.welcome";

export function isMlsWelcome(m: { type: string; content: JsonObject }): boolean {
  const algorithm = m.content["algorithm"];
  return m.type === "m.room.encrypted" && typeof algorithm === "string" && algorithm.startsWith(WELCOME_ALGORITHM_PREFIX);
}

/** A Welcome must name its commit (and may name its room) well enough to be gated; refused before anything is sent. */
export function checkWelcomeShape(m: LocalToDevice): void {
  const commit = m.content["commit_event_id"];
  if (!isEventId(commit)) throw badJson("An MLS Welcome needs commit_event_id, the event ID of the commit that adds its recipient");
  const room = m.content["room_id"];
  if (room !== undefined && !isRoomId(room)) throw badJson("An MLS Welcome's room_id must be a room ID");
}

async function findRoom(env: Env, sender: string, commitEventId: string): Promise<string | undefined> {
  const indexed = await roomOfEvent(env.DB, commitEventId);
  if (indexed) return indexed;
  // The index is written in batches; a commit accepted a moment ago is found by asking the rooms.
  const rooms = await env.USER_STREAM.get(env.USER_STREAM.idFromName(sender)).joinedRooms();
  const answers = await Promise.all(
    rooms.slice(0, 200).map((r) =>
      env.ROOM.get(env.ROOM.idFromName(r))
        .isAcceptedCommit(commitEventId)
        .then((ok) => (ok ? r : undefined))
        .catch(() => undefined),
    ),
  );
  return answers.find((r) => r !== undefined);
}

/**
 * Splits Welcomes into those to deliver now; the others are held by their room (which sends them on
 * itself once their commit is accepted) or dropped. All `welcomes` passed checkWelcomeShape.
 */
export async function gateWelcomes(env: Env, sender: string, welcomes: readonly LocalToDevice[], messageId: string): Promise<LocalToDevice[]> {
  const byCommit = new Map<string, { roomId: string | undefined; list: LocalToDevice[] }>();
  for (const w of welcomes) {
    const commit = w.content["commit_event_id"] as string;
    const room = w.content["room_id"] as string | undefined;
    const key = `${room ?? ""}\u0000${commit}`;
    const entry = byCommit.get(key) ?? { roomId: room, list: [] };
    entry.list.push(w);
    byCommit.set(key, entry);
  }
  const now: LocalToDevice[] = [];
  await Promise.all(
    [...byCommit].map(async ([key, { roomId, list }]) => {
      const commit = key.slice(key.indexOf("\u0000") + 1);
      const room = roomId ?? (await findRoom(env, sender, commit));
      if (room === undefined) {
        console.warn(`Welcome from ${sender} dropped: no room of theirs has accepted ${commit}`);
        return;
      }
      const messagesJson = JSON.stringify(list.map((m) => ({ target: m.target, targetDevice: m.targetDevice, content: m.content })));
      // Each commit's Welcomes get their own message ID, so a release never collides with this send's other messages.
      const verdict = await env.ROOM.get(env.ROOM.idFromName(room)).holdWelcome(commit, sender, list[0]?.type ?? "m.room.encrypted", messagesJson, `${messageId}|${commit}`);
      if (verdict.kind === "deliver") now.push(...list.filter((m) => !verdict.viaMimi?.includes(m.target)));
      else if (verdict.kind === "refused") console.warn(`Welcome from ${sender} dropped: ${commit} cannot become an accepted commit of ${room}: ${verdict.reason}`);
    }),
  );
  return now;
}
