// Shared by the converter's integration tests: the Room objects' own views of a paired room.

import { env } from "cloudflare:workers";
import type { Pdu } from "../../shared/event.js";
import { enc } from "./client-helpers.js";

export const PAIR = (roomId: string) => `/_matrix/client/unstable/io.switchboard/rooms/${enc(roomId)}/pair`;

export const room = (roomId: string) => env.ROOM.get(env.ROOM.idFromName(roomId));

export async function events(roomId: string): Promise<Array<{ eventId: string; pdu: Pdu }>> {
  const rows = await room(roomId).timeline({ dir: "f", limit: 1000 });
  return rows.map((r) => ({ eventId: r.eventId, pdu: JSON.parse(r.json) as Pdu }));
}

/** Waits (up to 5 s) until `roomId` has an event matching `pred`. */
export async function waitFor(roomId: string, pred: (e: { eventId: string; pdu: Pdu }) => boolean): Promise<{ eventId: string; pdu: Pdu }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const hit = (await events(roomId)).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching event in ${roomId}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
