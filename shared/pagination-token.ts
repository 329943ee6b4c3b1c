// The tokens /messages accepts as `from` and `to`. A room token "p<n>" is a position in the room's
// timeline order (events at or before n, paging backwards; after n, forwards). Positions start at 1
// with the first event this server holds; history fetched later from the hub takes 0, -1, -2, ...
// A sync token "s<n>" is a position of the user's own stream (/sync next_batch), which the user's
// stream maps to the room position it had delivered by then.

import { MatrixError } from "./errors.js";

export type PaginationToken = { kind: "room"; pos: number } | { kind: "sync"; stream: number };

const ROOM = /^p(-?\d{1,15})$/;
const SYNC = /^s(\d{1,15})$/;

/** Undefined for an absent or empty token; 400 M_INVALID_PARAM for anything not made here. */
export function parsePaginationToken(raw: string | null, name = "from"): PaginationToken | undefined {
  if (raw === null || raw === "") return undefined;
  const room = ROOM.exec(raw);
  if (room) return { kind: "room", pos: Number(room[1]) };
  const sync = SYNC.exec(raw);
  if (sync) return { kind: "sync", stream: Number(sync[1]) };
  throw new MatrixError(400, "M_INVALID_PARAM", `Unknown pagination token in ${name}`);
}

export function roomToken(pos: number): string {
  return `p${pos}`;
}
