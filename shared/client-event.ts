// The client-server API's view of an event: the PDU without its federation-only fields, with its
// event ID and room ID attached.

import type { Pdu } from "./event.js";

export interface ClientEvent {
  event_id: string;
  room_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  content: Record<string, unknown>;
  state_key?: string;
  redacts?: string;
  unsigned: Record<string, unknown>;
}

export function toClientEvent(pdu: Pdu, eventId: string, roomId: string, now?: number): ClientEvent {
  const out: ClientEvent = {
    event_id: eventId,
    room_id: pdu.room_id ?? roomId,
    type: pdu.type,
    sender: pdu.sender,
    origin_server_ts: pdu.origin_server_ts,
    content: pdu.content,
    // Only what a server adds for clients travels in `unsigned` (a redaction's redacted_because).
    unsigned: {
      ...(typeof pdu.unsigned === "object" && pdu.unsigned !== null ? (pdu.unsigned as Record<string, unknown>) : {}),
      ...(now === undefined ? {} : { age: Math.max(0, now - pdu.origin_server_ts) }),
    },
  };
  if (pdu.state_key !== undefined) out.state_key = pdu.state_key;
  const redacts = pdu.redacts ?? (typeof pdu.content["redacts"] === "string" ? pdu.content["redacts"] : undefined);
  if (redacts !== undefined) out.redacts = redacts;
  return out;
}
