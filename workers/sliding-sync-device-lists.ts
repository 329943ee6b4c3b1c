// The device-list news sliding sync's e2ee extension infers from memberships, as /sync does: users
// who came to share a room with us are `changed`, users who share none any more are `left`. A /sync
// response reads them off the rooms it carries; a sliding sync response carries only the rooms its
// lists show, so this reads the membership events of every room that changed since the pos.

import type { RoomChange } from "../durable-objects/user-stream.js";
import { addMemberEvents, type MembershipNews } from "./sync-e2ee.js";

/** Membership events read per changed room; past this the room's state at the window's start is read instead. */
const MEMBER_EVENTS_PER_ROOM = 100;

async function newsOfRoom(env: Env, userId: string, change: RoomChange, news: MembershipNews): Promise<void> {
  const room = env.ROOM.get(env.ROOM.idFromName(change.roomId));
  if (change.fromPos === null) {
    // Newly joined: everyone in it now shares a room with us, as /sync's full state of it says.
    for (const m of await room.joinedMembers()) if (m !== userId) news.joined.add(m);
    return;
  }
  const view = await room.syncView({ userId, fromPos: change.fromPos, toPos: change.toPos, limit: MEMBER_EVENTS_PER_ROOM, types: ["m.room.member"], fullState: false });
  addMemberEvents(userId, [...view.state, ...view.events].map((e) => JSON.parse(e.json) as unknown), news);
}

export async function slidingMembershipNews(env: Env, userId: string, changes: readonly RoomChange[]): Promise<MembershipNews> {
  const news: MembershipNews = { joined: new Set(), gone: new Set(), leftRooms: changes.filter((c) => c.membership === "leave" || c.membership === "ban").map((c) => c.roomId) };
  await Promise.all(
    changes
      .filter((c) => c.membership === "join")
      .map((c) =>
        newsOfRoom(env, userId, c, news).catch((e: unknown) => {
          // One room's trouble leaves the others' news standing; the keys themselves are still queryable.
          console.error("sliding sync membership news failed", c.roomId, e instanceof Error ? e.message : e);
        }),
      ),
  );
  return news;
}
