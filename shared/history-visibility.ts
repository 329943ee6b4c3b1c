// Which timeline events a room member may read (Matrix client-server "Room History Visibility", and
// the server-server rules for it). Pure: the Room object finds the state before each event and asks.
//
// Only users joined now page a room's history here, which makes "shared" simple: a user joined now
// joined at some point after any earlier event.

export type HistoryVisibility = "world_readable" | "shared" | "invited" | "joined";

const ORDER: readonly HistoryVisibility[] = ["joined", "invited", "shared", "world_readable"];

/**
 * The setting in an m.room.history_visibility content. No event means "shared" (the spec's default);
 * a value this server does not know is read as the strictest, "joined".
 */
export function historyVisibilityOf(content: unknown): HistoryVisibility {
  if (content === undefined) return "shared";
  const v = typeof content === "object" && content !== null ? (content as Record<string, unknown>)["history_visibility"] : undefined;
  return ORDER.includes(v as HistoryVisibility) ? (v as HistoryVisibility) : "joined";
}

/** The more permissive of two settings. */
export function morePermissive(a: HistoryVisibility, b: HistoryVisibility): HistoryVisibility {
  return ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b;
}

/**
 * A state value before an event, as the caller could establish it: `known` (with the event's
 * content, or undefined when the room had no such state then), or `unknown` when the history that
 * would tell is not stored here yet.
 */
export type StateBefore = { known: true; content: unknown } | { known: false };

export interface VisibilityQuestion {
  event: { type: string; state_key?: string; content: unknown };
  /** The user asking, joined to the room now. */
  userId: string;
  /** m.room.history_visibility before the event. */
  visibility: StateBefore;
  /** The user's m.room.member content before the event. */
  membership: StateBefore;
}

/**
 * true / false, or undefined when the answer needs state that is unknown. A visibility change is
 * judged by the more permissive of the settings before and after it, and the user's own member
 * event by the membership it sets, so members see the events that concern them.
 */
export function visibleToJoinedUser(q: VisibilityQuestion): boolean | undefined {
  if (!q.visibility.known) return undefined;
  let visibility = historyVisibilityOf(q.visibility.content);
  if (q.event.type === "m.room.history_visibility" && q.event.state_key === "") {
    visibility = morePermissive(visibility, historyVisibilityOf(q.event.content));
  }
  if (visibility === "world_readable" || visibility === "shared") return true;
  let membership: unknown;
  if (q.event.type === "m.room.member" && q.event.state_key === q.userId) {
    membership = (q.event.content as Record<string, unknown> | null)?.["membership"];
  } else {
    if (!q.membership.known) return undefined;
    membership = (q.membership.content as Record<string, unknown> | null | undefined)?.["membership"];
  }
  if (membership === "join") return true;
  return visibility === "invited" && membership === "invite";
}
