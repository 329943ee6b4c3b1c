// Which servers must have signed an event, over which bytes (draft -04 "Receiving Events" step 2 and
// auth rules 1 and 2, "Checking Signatures"; Matrix v11/v12 "events must be signed by the server
// denoted by the sender"), and the content-hash check of step 3. Nothing here throws: untrusted
// input yields a failed result naming the check.
//
// Acceptance rule (the draft leaves it open in a TODO): a server has signed an object when at least
// one of its signatures, under an ed25519 key ID we can resolve to a public key, verifies. This is
// what Matrix homeservers do; it lets a server that signs with an old and a new key be verified by
// peers that know only one. Signatures under keys we cannot resolve, and failing extra ones, are
// skipped rather than fatal: `signatures` is not covered by any hash, so anyone relaying the event
// could add or strip them, and they prove nothing either way.

import { tryDecodeBase64 } from "./base64.js";
import { contentHash, lpduContentHash } from "./hashes.js";
import { isServerName, isUserId, serverNameOf } from "./ids.js";
import { lpduFromPdu } from "./lpdu.js";
import { mayLackSenderSignature } from "./mimi-vouched.js";
import { redactLm } from "./redaction.js";
import type { RoomVersion } from "./room-version.js";
import { signatureKeyIds, signingBytes, verifyJsonSignature } from "./signed-json.js";

/** Resolves a server's public key by key ID; undefined when unknown. */
export type KeyLookup = (serverName: string, keyId: string) => Promise<Uint8Array | undefined>;

/**
 * - `format`: the event is not shaped so that its signers can be determined.
 * - `sender-pdu`: the sender's server did not sign the redacted PDU (no hub, or the hub is the sender's server).
 * - `sender-lpdu`: the sender's server did not sign the redacted LPDU (LM auth rule 1 with a hub).
 * - `hub-pdu`: the hub_server did not sign the redacted PDU (LM auth rule 2).
 */
export type SignatureCheckName = "format" | "sender-pdu" | "sender-lpdu" | "hub-pdu";

export type SignatureCheck = { ok: true } | { ok: false; check: SignatureCheckName; reason: string };

type Json = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

const fail = (check: SignatureCheckName, reason: string): SignatureCheck => ({ ok: false, check, reason });

function withoutEventId(obj: Json): Json {
  const { event_id: _ignored, ...rest } = obj;
  return rest;
}

/**
 * Whether `server` signed `redacted`. The signature is read from `signed` (the event as received)
 * so the result does not depend on the redaction algorithm keeping `signatures`.
 */
async function serverSigned(signed: object, redacted: object, server: string, keys: KeyLookup): Promise<boolean> {
  const bytes = signingBytes(redacted);
  for (const keyId of signatureKeyIds(signed, server)) {
    if (!keyId.startsWith("ed25519:")) continue;
    let publicKey: Uint8Array | undefined;
    try {
      publicKey = await keys(server, keyId);
    } catch {
      publicKey = undefined; // an unreachable key server counts as an unresolvable key
    }
    if (publicKey === undefined) continue;
    if (await verifyJsonSignature(signed, server, keyId, publicKey, bytes)) return true;
  }
  return false;
}

/** Whether `server` signed the redacted form of `event` under `version`. Never throws. */
export async function verifyServerSignedEvent(
  event: unknown,
  server: string,
  version: Pick<RoomVersion, "redact">,
  keys: KeyLookup,
): Promise<boolean> {
  if (!isPlainObject(event)) return false;
  try {
    const ev = withoutEventId(event);
    return await serverSigned(ev, version.redact(ev), server, keys);
  } catch {
    return false;
  }
}

/**
 * The signatures a receiving server requires on a PDU:
 * - LM with `hub_server`: the hub over the redacted PDU (auth rule 2), and the sender's server over
 *   the redacted LPDU (auth rule 1). When the sender's server is the hub, its PDU signature
 *   satisfies rule 1 too (the draft: "this may be an LPDU if ... not the same server").
 * - Otherwise (LM events made outside a hub, Matrix versions): the sender's server over the
 *   redacted PDU. Matrix versions ignore `hub_server`, which they do not protect.
 * Signatures of any other server are not considered.
 */
export async function verifyEventSignatures(
  pdu: unknown,
  version: Pick<RoomVersion, "redact" | "linearized">,
  keys: KeyLookup,
  /** The server checking; given, a MIMI provider's event (shared/mimi-vouched.ts) needs only the hub's signature. */
  checkingServer?: string,
): Promise<SignatureCheck> {
  if (!isPlainObject(pdu)) return fail("format", "event is not a JSON object");
  if (!isUserId(pdu.sender)) return fail("format", "event has no valid sender, so its signing server is unknown");
  const senderServer = serverNameOf(pdu.sender);
  const ev = withoutEventId(pdu);
  try {
    if (version.linearized && ev.hub_server !== undefined) {
      const hub = ev.hub_server;
      if (!isServerName(hub)) return fail("format", "hub_server is not a server name");
      const redactedPdu = version.redact(ev);
      const vouched = checkingServer !== undefined && mayLackSenderSignature(ev["content"], senderServer, checkingServer);
      if (senderServer !== hub && !vouched) {
        const redactedLpdu = version.redact(lpduFromPdu(ev));
        if (!(await serverSigned(ev, redactedLpdu, senderServer, keys))) {
          return fail("sender-lpdu", `LM auth rule 1: ${senderServer} has no valid signature over the redacted LPDU`);
        }
      }
      if (!(await serverSigned(ev, redactedPdu, hub, keys))) {
        const rule = senderServer === hub ? "LM auth rules 1 and 2" : "LM auth rule 2";
        return fail("hub-pdu", `${rule}: hub ${hub} has no valid signature over the redacted PDU`);
      }
      return { ok: true };
    }
    if (!(await serverSigned(ev, version.redact(ev), senderServer, keys))) {
      return fail("sender-pdu", `${senderServer} has no valid signature over the redacted event`);
    }
    return { ok: true };
  } catch {
    // Only values canonical JSON refuses (floats, lone surrogates) get here.
    return fail("format", "event cannot be encoded as canonical JSON");
  }
}

/** At the hub: the sender's server must have signed the redacted LPDU. Never throws. */
export async function verifyLpduSignature(lpdu: unknown, keys: KeyLookup): Promise<SignatureCheck> {
  if (!isPlainObject(lpdu)) return fail("format", "LPDU is not a JSON object");
  if (!isUserId(lpdu.sender)) return fail("format", "LPDU has no valid sender, so its signing server is unknown");
  const senderServer = serverNameOf(lpdu.sender);
  try {
    const ev = withoutEventId(lpdu);
    if (!(await serverSigned(ev, redactLm(ev), senderServer, keys))) {
      return fail("sender-lpdu", `LM auth rule 1: ${senderServer} has no valid signature over the redacted LPDU`);
    }
    return { ok: true };
  } catch {
    return fail("format", "LPDU cannot be encoded as canonical JSON");
  }
}

export interface ContentHashCheck {
  /** Both hashes that apply match. */
  ok: boolean;
  /** `hashes.sha256` matches the PDU. */
  pdu: boolean;
  /** `hashes.lpdu.sha256` matches the LPDU; undefined when the event has neither a hub nor an LPDU hash. */
  lpdu?: boolean;
}

/** Compares decoded bytes, so padded and unpadded base64 of the same hash agree. */
function sameHash(claimed: unknown, computed: string): boolean {
  const a = tryDecodeBase64(claimed);
  const b = tryDecodeBase64(computed);
  return a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

async function safely(f: () => Promise<boolean>): Promise<boolean> {
  try {
    return await f();
  } catch {
    return false;
  }
}

/**
 * Receiving step 3: a PDU's content hash, and its LPDU hash when it has a hub or claims one (the
 * draft: an event with hub_server must carry a hash covering the LPDU). A mismatch means the event
 * is kept only in redacted form. Never throws.
 */
export async function checkContentHashes(pdu: unknown): Promise<ContentHashCheck> {
  if (!isPlainObject(pdu)) return { ok: false, pdu: false };
  const hashes = isPlainObject(pdu.hashes) ? pdu.hashes : {};
  const pduOk = await safely(async () => sameHash(hashes.sha256, await contentHash(pdu)));
  if (pdu.hub_server === undefined && hashes.lpdu === undefined) return { ok: pduOk, pdu: pduOk };
  const lpduOk = await safely(async () => {
    const claimed = isPlainObject(hashes.lpdu) ? hashes.lpdu.sha256 : undefined;
    return sameHash(claimed, await lpduContentHash(lpduFromPdu(pdu)));
  });
  return { ok: pduOk && lpduOk, pdu: pduOk, lpdu: lpduOk };
}

/** At the hub: an LPDU's `hashes.lpdu.sha256` matches its content. Never throws. */
export async function checkLpduContentHash(lpdu: unknown): Promise<boolean> {
  if (!isPlainObject(lpdu)) return false;
  const hashes = lpdu.hashes;
  const claimed = isPlainObject(hashes) && isPlainObject(hashes.lpdu) ? hashes.lpdu.sha256 : undefined;
  return safely(async () => sameHash(claimed, await lpduContentHash(lpdu)));
}
