// Events a MIMI hub writes for users of a MIMI provider (draft-ietf-mimi-protocol-06). A MIMI follower
// signs nothing Matrix can check: it authenticates as a provider (mutual TLS) and its users' MLS
// messages carry their own MLS signatures. So when the hub turns a follower's `update` or
// `submitMessage` into a room event, only the hub signs it, and the event's content names the provider
// it came from. LM participants accept such an event with the hub's signature alone, except for a
// sender on their own server: a server knows its own users are not MIMI users.

import { isServerName } from "./ids.js";

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
