// The MatrixError for a refused MLS event, with the machine-readable fields (mls_code, current_epoch,
// missing_removals) that travel back to an LM participant in the hub's failed_pdus entry.

import { MatrixError } from "../shared/errors.js";
import type { LeafChange } from "../shared/mls-roster.js";

/** Inspection codes that mean "this is not a well-formed message" rather than "not allowed". */
const MALFORMED = new Set(["malformed", "not_public_message", "not_private_message", "not_commit", "bad_content", "bad_group_info", "group_info_required"]);

/**
 * The error for a refused MLS event; its extra fields travel back to a participant in the hub's
 * failed_pdus entry (mlsErrorFields).
 */
export function mlsError(code: string, reason: string, currentEpoch: number, missing?: LeafChange[]): MatrixError {
  const malformed = MALFORMED.has(code);
  const extra: Record<string, unknown> = { mls_code: code, current_epoch: currentEpoch };
  if (missing) extra["missing_removals"] = missing.map((m) => ({ leaf: m.leaf, user_id: m.userId, device_id: m.deviceId }));
  return new MatrixError(malformed ? 400 : 403, malformed ? "M_BAD_JSON" : "M_FORBIDDEN", `MLS ${code}: ${reason} (current epoch ${currentEpoch})`, extra);
}

/** The machine-readable fields of an MLS refusal, as a hub's failed_pdus entry carries them. */
export function mlsErrorFields(entry: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const code = entry["mls_code"];
  const epoch = entry["current_epoch"];
  return typeof code === "string" && typeof epoch === "number" ? { mls_code: code, current_epoch: epoch } : {};
}
