// Acting as remote LM servers from the load generator: Ed25519 identities, key documents, LPDUs and
// X-Matrix request signatures. Canonical JSON, redaction and the signed-bytes rules come from the
// project's shared/ code; only the primitives (SHA-256, Ed25519) are Node's native, synchronous ones,
// so the generator can prepare tens of thousands of events quickly. `selfTest` checks that the result
// is byte-identical to shared/lpdu.ts buildLpdu and shared/x-matrix.ts signRequest.

import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from "node:crypto";
import { canonicalJson, canonicalJsonBytes, type JsonObject } from "../../shared/canonical-json.js";
import type { ServerName } from "../../shared/ids.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { redactLm } from "../../shared/redaction.js";
import { signingBytes } from "../../shared/signed-json.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import { formatXMatrixHeader, signedRequestObject, signRequest } from "../../shared/x-matrix.js";

export { LM_PREFIX };
export const LM_VERSION = "org.matrix.i-d.ralston-mimi-linearized-matrix.02";

const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

export const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64").replace(/=+$/, "");
const sha256b64 = (b: Uint8Array): string => b64(createHash("sha256").update(b).digest());

export interface Identity {
  name: string;
  keyId: string;
  seed: Buffer;
  privateKey: KeyObject;
  publicKeyB64: string;
}

export function newIdentity(name: string): Identity {
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { name, keyId: `ed25519:g_${randomBytes(3).toString("hex")}`, seed, privateKey, publicKeyB64: b64(spki.subarray(12)) };
}

export const signBytes = (id: Identity, bytes: Uint8Array): string => b64(sign(null, bytes, id.privateKey));

/** GET /_matrix/key/v2/server of this identity, valid for `validMs`. */
export function keyDocument(id: Identity, now: number, validMs = 6 * 24 * 3600 * 1000): string {
  const doc: Record<string, unknown> = {
    server_name: id.name,
    valid_until_ts: now + validMs,
    "m.linearized": true,
    verify_keys: { [id.keyId]: { key: id.publicKeyB64 } },
    old_verify_keys: {},
  };
  doc["signatures"] = { [id.name]: { [id.keyId]: signBytes(id, signingBytes(doc)) } };
  return canonicalJson(doc);
}

export interface LpduFields {
  room_id: string;
  type: string;
  state_key?: string;
  sender: string;
  origin_server_ts: number;
  content: JsonObject;
}

/** The participant's LPDU (draft -04 "Linearized PDU"), as shared/lpdu.ts buildLpdu makes it. */
export function makeLpdu(id: Identity, fields: LpduFields, hub: string): Record<string, unknown> {
  const base: Record<string, unknown> = { ...fields, hub_server: hub };
  const lpdu: Record<string, unknown> = { ...base, hashes: { lpdu: { sha256: sha256b64(canonicalJsonBytes(base)) } }, signatures: {} };
  lpdu["signatures"] = { [id.name]: { [id.keyId]: signBytes(id, signingBytes(redactLm(lpdu))) } };
  return lpdu;
}

/** Authorization header for a request from `id` to `destination` (draft -04 "Request Authentication"). */
export function authHeader(id: Identity, destination: string, method: string, uri: string, content?: unknown): string {
  const sig = signBytes(id, canonicalJsonBytes(signedRequestObject(method, uri, id.name, destination, content)));
  return formatXMatrixHeader({ origin: id.name as ServerName, destination: destination as ServerName, key: id.keyId, sig });
}

/** A signed PUT /send, ready to go on the wire. */
export interface PreparedTxn {
  path: string;
  authorization: string;
  body: Buffer;
  pdus: number;
}

let txnCounter = 0;
export function prepareTxn(id: Identity, hub: string, pdus: unknown[]): PreparedTxn {
  const txnId = `b${process.pid}.${Date.now()}.${txnCounter++}`;
  const path = `${LM_PREFIX}/send/${encodeURIComponent(txnId)}`;
  const content = { origin: id.name, origin_server_ts: Date.now(), pdus };
  return { path, authorization: authHeader(id, hub, "PUT", path, content), body: Buffer.from(canonicalJson(content)), pdus: pdus.length };
}

/** Proves the fast builders agree byte for byte with the project's own (async, WebCrypto) ones. */
export async function selfTest(): Promise<void> {
  const id = newIdentity("selftest.bench.invalid");
  const key = await parseSigningKeySecret(`${id.keyId}:${b64(id.seed)}`);
  const fields: LpduFields = { room_id: "!r:hub.invalid", type: "m.room.message", sender: `@u:${id.name}`, origin_server_ts: 1700000000000, content: { msgtype: "m.text", body: "x" } };
  const ours = canonicalJson(makeLpdu(id, fields, "hub.invalid"));
  const theirs = canonicalJson(await buildLpdu(fields, key, "hub.invalid"));
  if (ours !== theirs) throw new Error(`LPDU builder disagrees with shared/lpdu.ts:\n${ours}\n${theirs}`);
  const content = { pdus: [] };
  const a = authHeader(id, "hub.invalid", "PUT", "/x", content);
  const b = await signRequest(key, id.name as ServerName, "hub.invalid" as ServerName, "PUT", "/x", content);
  if (a !== b) throw new Error(`request signer disagrees with shared/x-matrix.ts:\n${a}\n${b}`);
}
