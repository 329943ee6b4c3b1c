// Events a MIMI hub writes for users of a MIMI provider (draft-ietf-mimi-protocol-06). A MIMI follower
// signs nothing Matrix can check: it authenticates as a provider (mutual TLS) and its users' MLS
// messages carry their own MLS signatures. So when the hub turns a follower's `update` or
// `submitMessage` into a room event, only the hub signs it, and the event's content names the provider
// it came from. LM participants accept such an event with the hub's signature alone, except for a
// sender on their own server (a server knows its own users are not MIMI users) and for a sender whose
// server takes part in the room over LM (it signs its users' events itself).

import type { Pdu } from "./event.js";
import { isServerName, isUserId, serverNameOf } from "./ids.js";

/** The content key naming the MIMI provider an event was submitted by. */
export const MIMI_PROVIDER_KEY = "m.mimi.provider";

/** The provider that vouched for the event, when its content names one (a valid server name). */
export function mimiProviderOf(content: unknown): string | undefined {
  if (typeof content !== "object" || content === null || Array.isArray(content)) return undefined;
  const p = (content as Record<string, unknown>)[MIMI_PROVIDER_KEY];
  return typeof p === "string" && isServerName(p) ? p : undefined;
}

/**
 * Whether an event from `senderServer` may go without that server's signature: its content names
 * `senderServer` as the MIMI provider it came from, and the checking server is not `senderServer`.
 */
export function mayLackSenderSignature(content: unknown, senderServer: string, checkingServer: string | undefined): boolean {
  return senderServer !== checkingServer && mimiProviderOf(content) === senderServer;
}

/** The room's membership events, as RoomState lists them. */
export interface MemberList {
  members(): Iterable<{ pdu: Pdu }>;
}

/**
 * A server takes part in the room over LM when a member of it made its own membership event without
 * naming a MIMI provider: its server signed that event, so it signs its users' events itself.
 */
export function takesPartOverLm(server: string, state: MemberList): boolean {
  for (const { pdu } of state.members()) {
    if (pdu.sender !== pdu.state_key || serverNameOf(pdu.sender) !== server) continue;
    if (mimiProviderOf(pdu.content) === undefined) return true;
  }
  return false;
}

/**
 * Why an event naming its sender's server as MIMI provider must be refused, or undefined. Such an
 * event carries only the hub's signature, so it is believed only for a server that is a MIMI provider
 * of the room: a server taking part over LM must sign its users' events, or a malicious hub could
 * write as any user of it.
 */
export function vouchedForLmServer(pdu: Pick<Pdu, "sender" | "content">, state: MemberList): string | undefined {
  const provider = mimiProviderOf(pdu.content);
  if (provider === undefined) return undefined;
  if (!isUserId(pdu.sender) || serverNameOf(pdu.sender) !== provider) return undefined;
  return takesPartOverLm(provider, state) ? `${provider} takes part in this room over LM, so its users' events need its own signature` : undefined;
}
