// Typing and read receipts for sync responses: /sync's per-room `ephemeral` and sliding sync's
// `typing` and `receipts` extensions. Each room holds its own (Room.ephemeral); the user's stream
// only says which rooms' changed since a token.

import type { Receipt } from "../shared/receipts-typing.js";
import { receiptContent } from "../shared/receipts-typing.js";

export interface EphemeralEvents {
  typing: { type: "m.typing"; content: { user_ids: string[] } };
  /** Absent when the room has no receipt the user may see. */
  receipt?: { type: "m.receipt"; content: ReturnType<typeof receiptContent> };
}

export async function roomEphemeral(env: Env, roomId: string, userId: string): Promise<EphemeralEvents> {
  let view: { typing: string[]; receipts: Receipt[] };
  try {
    view = await env.ROOM.get(env.ROOM.idFromName(roomId)).ephemeral(userId);
  } catch {
    view = { typing: [], receipts: [] };
  }
  return {
    typing: { type: "m.typing", content: { user_ids: view.typing } },
    ...(view.receipts.length > 0 ? { receipt: { type: "m.receipt" as const, content: receiptContent(view.receipts) } } : {}),
  };
}

/** The ephemeral data of several rooms, by room ID. */
export async function ephemeralOf(env: Env, roomIds: Iterable<string>, userId: string): Promise<Map<string, EphemeralEvents>> {
  const ids = [...new Set(roomIds)];
  const views = await Promise.all(ids.map((r) => roomEphemeral(env, r, userId)));
  return new Map(ids.map((r, i) => [r, views[i] as EphemeralEvents]));
}

/**
 * Fills /sync's `ephemeral` for joined rooms: every room in the response on an initial sync, else
 * the rooms whose typing or receipts changed (their section is created if it had nothing else).
 */
export async function fillSyncEphemeral(env: Env, userId: string, join: Record<string, unknown>, changed: readonly string[] | undefined, joinedRooms: () => Promise<string[]>): Promise<void> {
  const wanted = new Set(changed ?? Object.keys(join));
  if (changed !== undefined) for (const [roomId, section] of Object.entries(join)) if ((section as { state?: { events?: unknown[] } }).state?.events?.length) wanted.add(roomId);
  if (wanted.size === 0) return;
  const missing = [...wanted].filter((r) => !(r in join));
  const joined = missing.length > 0 ? new Set(await joinedRooms()) : new Set<string>();
  for (const r of missing) if (!joined.has(r)) wanted.delete(r);
  for (const [roomId, e] of await ephemeralOf(env, wanted, userId)) {
    // Typing is left out while nobody types, unless it changed (the client must hear it stopped).
    const events: unknown[] = [];
    if (e.typing.content.user_ids.length > 0 || changed?.includes(roomId)) events.push(e.typing);
    if (e.receipt) events.push(e.receipt);
    if (events.length === 0) continue;
    const section = (join[roomId] ??= {
      timeline: { events: [], limited: false },
      state: { events: [] },
      ephemeral: { events: [] },
      account_data: { events: [] },
    }) as { ephemeral?: { events: unknown[] } };
    section.ephemeral = { events };
  }
}
