// Events a server creates for its own users in a room it hosts. They take the plain PDU form: no
// hub_server and no LPDU hash, one signature by the sender's server (which is the hub) over the
// redacted PDU. That form passes the draft's checks (auth rule 1; rule 2 does not apply) and the
// reference implementation's, which demands a separate LPDU signature from the sender's server
// whenever hub_server is present — impossible for a server to give beside its own hub signature
// under the same key ID.

import { encodeBase64 } from "./base64.js";
import type { Pdu } from "./event.js";
import { contentHash } from "./hashes.js";
import type { HubLinks, LpduFields } from "./lpdu.js";
import type { RoomVersion } from "./room-version.js";
import { signingBytes } from "./signed-json.js";
import type { SigningKey } from "./signing-key.js";

export interface LocalLinks extends HubLinks {
  /** Matrix room versions only: one more than the deepest prev_event. */
  depth?: number;
}

export async function buildLocalPdu(
  fields: LpduFields & { redacts?: string },
  links: LocalLinks,
  serverName: string,
  key: SigningKey,
  version: Pick<RoomVersion, "redact" | "linearized" | "roomIdFromCreateEvent">,
): Promise<Pdu> {
  const pdu: Pdu = {
    room_id: fields.room_id,
    type: fields.type,
    sender: fields.sender,
    origin_server_ts: fields.origin_server_ts,
    content: fields.content,
    auth_events: [...links.authEvents],
    prev_events: [...links.prevEvents],
    hashes: {},
    signatures: {},
  };
  if (fields.state_key !== undefined) pdu.state_key = fields.state_key;
  if (fields.redacts !== undefined) pdu.redacts = fields.redacts;
  if (!version.linearized) {
    pdu.depth = links.depth ?? 1;
    if (version.roomIdFromCreateEvent && fields.type === "m.room.create") delete pdu.room_id;
  }
  pdu.hashes = { sha256: await contentHash(pdu) };
  const sig = encodeBase64(await key.sign(signingBytes(version.redact(pdu))));
  pdu.signatures = { [serverName]: { [key.keyId]: sig } };
  return pdu;
}
