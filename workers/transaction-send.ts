// Sending a transaction to a server that may speak LM or only Matrix. LM servers take /send on the
// draft's path; a Matrix homeserver (Synapse) answers that path 404 M_UNRECOGNIZED and takes
// PUT /_matrix/federation/v1/send/{txnId} with EDUs in Matrix form (shared/matrix-edus.ts). The LM
// path is tried first, so LM peers see exactly what they always did; a server found to be Matrix-only
// is remembered for a while in this isolate and gets the Matrix form straight away.

import { canonicalJson } from "../shared/canonical-json.js";
import { FEDERATION_V1 } from "../shared/federation-paths.js";
import { toMatrixTransaction } from "../shared/matrix-edus.js";
import { parseStrictJson } from "../shared/strict-json.js";
import type { Config } from "./config.js";
import { failure, federationRequestCanonical, sendTransactionPath, type FederationResponse } from "./federation-request.js";

/** How long a server found to be Matrix-only is sent the Matrix form without asking the LM path again. */
const MATRIX_PEER_TTL_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;
const matrixPeers = new Map<string, number>();

/** Forgets which servers were found to be Matrix-only (tests). */
export function forgetMatrixPeers(): void {
  matrixPeers.clear();
}

function isMatrixOnly(destination: string, now: number): boolean {
  const until = matrixPeers.get(destination);
  if (until === undefined) return false;
  if (until > now) return true;
  matrixPeers.delete(destination);
  return false;
}

/** The answer of a server that has no LM /send endpoint. */
function lacksLmSend(res: FederationResponse): boolean {
  if (res.status === 405) return true;
  const errcode = typeof res.body === "object" && res.body !== null ? (res.body as Record<string, unknown>)["errcode"] : undefined;
  return res.status === 404 && errcode === "M_UNRECOGNIZED";
}

export function matrixSendPath(txnId: string): string {
  return `${FEDERATION_V1}/send/${encodeURIComponent(txnId)}`;
}

/** Sends one transaction (canonical JSON) to `destination`, on the path and in the form it speaks. */
export async function sendTransactionTo(config: Config, destination: string, txnId: string, canonicalBody: string): Promise<FederationResponse> {
  if (!isMatrixOnly(destination, Date.now())) {
    const res = await federationRequestCanonical(config, destination, "PUT", sendTransactionPath(txnId), canonicalBody);
    if (!lacksLmSend(res)) return res;
    if (matrixPeers.size >= MAX_REMEMBERED) matrixPeers.clear();
    matrixPeers.set(destination, Date.now() + MATRIX_PEER_TTL_MS);
  }
  let body: unknown;
  try {
    body = parseStrictJson(canonicalBody);
  } catch {
    return failure(0, "M_BAD_JSON", "The queued transaction is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return failure(0, "M_BAD_JSON", "The queued transaction is not an object");
  const matrix = toMatrixTransaction(body as Record<string, unknown>, txnId);
  return federationRequestCanonical(config, destination, "PUT", matrixSendPath(txnId), canonicalJson(matrix));
}
