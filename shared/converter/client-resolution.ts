// What an end-to-end-encrypting client needs to do across a converter, since no server may decrypt
// and the clients' crypto cannot be fooled into accepting a ghost:
//
// - Key sharing: device keys are signed over their own `user_id`, so a ghost can never own the
//   real user's devices. A client encrypting in a paired room shares its room key with the real
//   users behind the ghost members (`realMemberOf`), querying and claiming their keys through its
//   own server from their own servers, as for any remote user.
// - Decryption: a Megolm session is bound to the room it was made for and to the user whose device
//   made it, so the converted copy (other room, ghost sender) is not what the sender encrypted. The
//   client decrypts the original event instead, rebuilt from the copy's provenance block after the
//   independent check verified it (`originEventOf`): its room, sender and event ID are the ones the
//   sender's own server signed.

import type { JsonObject } from "../canonical-json.js";
import type { KeyLookup } from "../event-signatures.js";
import { isUserId, serverNameOf } from "../ids.js";
import { parseGhost } from "./ghost-user.js";
import { checkProvenance } from "./provenance-check.js";

/**
 * The user a room member stands for: the real user behind a ghost of one of `converters` (the
 * servers the room's pair event names), else the member itself. Ghost-shaped names of other
 * servers are ordinary users there and are taken as they are.
 */
export function realMemberOf(member: string, converters: readonly string[]): string {
  if (!isUserId(member)) return member;
  const server = serverNameOf(member);
  if (!converters.includes(server)) return member;
  return parseGhost(member, server)?.userId ?? member;
}

/** A converted event as a client receives it. */
export interface ClientCopy {
  type: string;
  sender: string;
  content: JsonObject;
}

/** The original event in the client-server shape a crypto library decrypts. */
export interface OriginEvent {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  content: JsonObject;
  origin_server_ts: number;
}

export type OriginResult = { ok: true; event: OriginEvent } | { ok: false; reason: string };

/**
 * The original of a converted event, when its provenance verifies and the copy's sender is the
 * original sender or that sender's ghost on a server in `converters`. Never throws.
 */
export async function originEventOf(copy: ClientCopy, converters: readonly string[], keys: KeyLookup): Promise<OriginResult> {
  const check = await checkProvenance({ type: copy.type, content: copy.content }, keys);
  if (!check.ok) return { ok: false, reason: `provenance: ${check.check}: ${check.reason}` };
  const { original, block } = check;
  const sender = original.sender;
  if (typeof sender !== "string" || !isUserId(sender)) return { ok: false, reason: "the original has no sender" };
  if (realMemberOf(copy.sender, converters) !== sender) {
    return { ok: false, reason: `the copy's sender ${copy.sender} does not stand for the original's ${sender}` };
  }
  const ts = original.origin_server_ts;
  return {
    ok: true,
    event: {
      event_id: block.event_id,
      room_id: block.room_id,
      sender,
      type: original.type,
      content: original.content,
      origin_server_ts: typeof ts === "number" ? ts : 0,
    },
  };
}
