// Linearized PDUs (draft -04 "Linearized PDU", "Receiving Events"): a participant builds and signs an
// LPDU; the hub completes it into a PDU by adding auth_events, prev_events and the PDU content hash,
// and signs the result beside the participant's signature.

import { encodeBase64 } from "./base64.js";
import type { JsonObject } from "./canonical-json.js";
import { badJson } from "./errors.js";
import type { Lpdu, Pdu } from "./event.js";
import { contentHash, lpduContentHash, referenceHashOfBytes } from "./hashes.js";
import { serverNameOf } from "./ids.js";
import { cloneJson, redactLm } from "./redaction.js";
import type { RoomVersion } from "./room-version.js";
import type { Signatures } from "./signed-json.js";
import { signingBytes } from "./signed-json.js";
import type { SigningKey } from "./signing-key.js";

/** What the creator of an event chooses; everything else is derived. */
export interface LpduFields {
  room_id: string;
  type: string;
  state_key?: string;
  sender: string;
  origin_server_ts: number;
  content: JsonObject;
}

/** The links only the hub can choose. */
export interface HubLinks {
  authEvents: readonly string[];
  prevEvents: readonly string[];
}

type Json = Record<string, unknown>;

/** Fields an event's creator never sets itself. */
const DERIVED = ["auth_events", "prev_events", "hashes", "signatures", "unsigned", "event_id", "hub_server"];

function withoutKeys(obj: object, keys: readonly string[]): Json {
  const out: Json = cloneJson({ ...(obj as Json) });
  for (const k of keys) delete out[k];
  return out;
}

/** The signature and the bytes it covers (canonical redacted form without signatures and unsigned). */
async function signRedactedBytes(obj: object, redact: (e: object) => object, key: SigningKey): Promise<{ sig: string; bytes: Uint8Array }> {
  const bytes = signingBytes(redact(obj));
  return { sig: encodeBase64(await key.sign(bytes)), bytes };
}

/** An LPDU without its signature: hub_server and hashes.lpdu set. */
async function unsignedLpdu(fields: LpduFields, hubServer: string): Promise<Lpdu> {
  const base = { ...withoutKeys(fields, DERIVED), hub_server: hubServer } as unknown as Lpdu;
  const sha256 = await lpduContentHash(base);
  return { ...base, hashes: { lpdu: { sha256 } }, signatures: {} };
}

/**
 * A participant's LPDU for the hub `hubServer`, signed (over its redacted form) as the server of
 * `fields.sender` with `senderServerKey`.
 */
export async function buildLpdu(fields: LpduFields, senderServerKey: SigningKey, hubServer: string): Promise<Lpdu> {
  const lpdu = await unsignedLpdu(fields, hubServer);
  const { sig } = await signRedactedBytes(lpdu, redactLm, senderServerKey);
  return { ...lpdu, signatures: { [serverNameOf(fields.sender)]: { [senderServerKey.keyId]: sig } } };
}

/**
 * The LPDU a hub-completed PDU was made from: without auth_events and prev_events, with `hashes`
 * reduced to `{lpdu}`. Signatures are kept (the sender's is among them); `unsigned` and `event_id` go.
 */
export function lpduFromPdu(pdu: object): Lpdu {
  const src = pdu as Json;
  const out = withoutKeys(pdu, ["auth_events", "prev_events", "hashes", "unsigned", "event_id"]);
  const hashes = src.hashes;
  const lpdu = typeof hashes === "object" && hashes !== null ? (hashes as Json).lpdu : undefined;
  out.hashes = lpdu === undefined ? {} : { lpdu: cloneJson(lpdu) };
  return out as unknown as Lpdu;
}

/**
 * Hub completion: the full PDU with the hub's links, `hashes.sha256` beside `hashes.lpdu`, and the
 * hub's signature over the redacted PDU added to the signatures already present.
 * Throws M_BAD_JSON when the LPDU names another hub or lacks its hash (its signature covers both,
 * so the hub cannot repair them).
 */
export async function completeLpdu(
  lpdu: Lpdu,
  links: HubLinks,
  hubName: string,
  hubKey: SigningKey,
  version: Pick<RoomVersion, "redact">,
): Promise<Pdu> {
  return (await completeLpduWithId(lpdu, links, hubName, hubKey, version)).pdu;
}

/**
 * completeLpdu, also giving the event ID: the hub's signature and the reference hash cover the
 * same bytes (the redacted PDU without signatures and unsigned), so they are encoded once.
 */
export async function completeLpduWithId(
  lpdu: Lpdu,
  links: HubLinks,
  hubName: string,
  hubKey: SigningKey,
  version: Pick<RoomVersion, "redact">,
): Promise<{ pdu: Pdu; eventId: string }> {
  if (lpdu.hub_server !== hubName) throw badJson(`LPDU names hub ${JSON.stringify(lpdu.hub_server)}, not ${hubName}`);
  const lpduHash = (lpdu.hashes as { lpdu?: unknown } | undefined)?.lpdu;
  if (typeof lpduHash !== "object" || lpduHash === null) throw badJson("LPDU has no hashes.lpdu");

  const signatures = cloneJson((lpdu.signatures ?? {}) as Signatures);
  const draft = {
    ...withoutKeys(lpdu, ["signatures", "unsigned", "event_id", "hashes"]),
    auth_events: [...links.authEvents],
    prev_events: [...links.prevEvents],
    hashes: { lpdu: cloneJson(lpduHash) },
  } as unknown as Pdu;
  const sha256 = await contentHash(draft);
  const pdu: Pdu = { ...draft, hashes: { sha256, lpdu: draft.hashes.lpdu } as Pdu["hashes"], signatures };
  const { sig, bytes } = await signRedactedBytes(pdu, (e) => version.redact(e), hubKey);
  pdu.signatures = { ...signatures, [hubName]: { ...(signatures[hubName] ?? {}), [hubKey.keyId]: sig } };
  return { pdu, eventId: `$${await referenceHashOfBytes(bytes)}` };
}

/**
 * An event the hub creates for one of its own users.
 *
 * It takes the same form as a completed LPDU (hub_server, hashes.lpdu, one prev_event), so every
 * event in an LM room is built and checked one way: the draft's auth rule 1 anticipates exactly
 * this case ("this may be an LPDU if the hub_server is specified and not the same server"), and
 * the "events created outside a hub" that must omit hub_server are other servers' events.
 * It carries one signature, the hub's over the redacted PDU. That satisfies both signature rules:
 * the redacted PDU holds every field of the redacted LPDU plus hashes.lpdu, which covers the full
 * LPDU, so a second signature by the same server would add nothing (and `signatures` has room for
 * only one value per server and key ID anyway).
 */
export async function buildHubPdu(
  fields: LpduFields,
  links: HubLinks,
  hubName: string,
  hubKey: SigningKey,
  version: Pick<RoomVersion, "redact">,
): Promise<Pdu> {
  if (serverNameOf(fields.sender) !== hubName) {
    throw badJson(`The hub creates events only for its own users; ${fields.sender} is not on ${hubName}`);
  }
  return completeLpdu(await unsignedLpdu(fields, hubName), links, hubName, hubKey, version);
}

/**
 * An event the hub writes for a user of a MIMI provider (shared/mimi-vouched.ts): the same form as
 * buildHubPdu's, signed by the hub alone. The caller puts the provider in `content`.
 */
export async function buildVouchedPdu(
  fields: LpduFields,
  links: HubLinks,
  hubName: string,
  hubKey: SigningKey,
  version: Pick<RoomVersion, "redact">,
): Promise<{ pdu: Pdu; eventId: string }> {
  return completeLpduWithId(await unsignedLpdu(fields, hubName), links, hubName, hubKey, version);
}
