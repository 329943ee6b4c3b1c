// The client side of end-to-end encryption across a converter, as a converter-aware client does it
// (shared/converter/client-resolution.ts says why): members resolved to the real users behind the
// ghosts for key sharing, and the original event, rebuilt from a verified provenance block,
// decrypted in place of the copy. Server keys come from the client's own homeserver's notary API.

import { decodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { originEventOf, realMemberOf, type OriginEvent } from "../../shared/converter/client-resolution.js";
import { PAIR_EVENT } from "../../shared/converter/pairing.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import type { CryptoDevice, SyncEvent } from "./crypto-device.js";
import type { Homeserver } from "./peer.js";

const enc = encodeURIComponent;

/** Server keys as `server`'s notary endpoint returns them (a client trusts its own homeserver). */
export function notaryKeys(server: Homeserver): KeyLookup {
  const cache = new Map<string, Record<string, { key: string }>>();
  return async (name, keyId) => {
    let keys = cache.get(name);
    if (!keys) {
      const res = await server.fetch(`/_matrix/key/v2/query/${enc(name)}`);
      const body = (await res.json()) as { server_keys?: Array<{ server_name: string; verify_keys?: Record<string, { key: string }> }> };
      keys = Object.assign({}, ...(body.server_keys ?? []).filter((k) => k.server_name === name).map((k) => k.verify_keys ?? {})) as Record<string, { key: string }>;
      cache.set(name, keys);
    }
    const k = keys[keyId];
    return k ? decodeBase64(k.key) : undefined;
  };
}

/** The converters the room's pair events name (any pairing of the room). */
export async function convertersOf(d: CryptoDevice, roomId: string): Promise<string[]> {
  const state = await d.user.request<Array<{ type: string; content: Record<string, unknown> }>>("GET", `/rooms/${enc(roomId)}/state`);
  return state.filter((e) => e.type === PAIR_EVENT).flatMap((e) => (Array.isArray(e.content["converters"]) ? (e.content["converters"] as unknown[]).filter((s): s is string => typeof s === "string") : []));
}

/** The room's joined members with every ghost replaced by the user it stands for. */
export async function realMembers(d: CryptoDevice, roomId: string): Promise<string[]> {
  const converters = await convertersOf(d, roomId);
  const joined = await d.user.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(roomId)}/joined_members`);
  return [...new Set(Object.keys(joined.joined).map((m) => realMemberOf(m, converters)))];
}

/** The original of a converted copy, checked; throws when the check fails. */
export async function originOfCopy(d: CryptoDevice, roomId: string, copy: SyncEvent, keys: KeyLookup): Promise<OriginEvent> {
  const result = await originEventOf({ type: copy.type, sender: copy.sender, content: copy.content as JsonObject }, await convertersOf(d, roomId), keys);
  if (!result.ok) throw new Error(`the copy ${copy.event_id} has no verifiable origin: ${result.reason}`);
  return result.event;
}
