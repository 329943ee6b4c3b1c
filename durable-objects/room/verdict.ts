// What became of an event inside the room engine. Protocols and the core return these instead of
// throwing; the facade turns them into a MatrixError (client and federation answers) or a
// failed_pdus entry, and nowhere else.

import { MatrixError, type ErrCode } from "../../shared/errors.js";
import type { Pdu } from "../../shared/event.js";

export interface Accepted {
  outcome: "accepted";
  eventId: string;
  pdu: Pdu;
}

/** Already in the room (a retried LPDU, an event received twice); nothing new was committed. */
export interface Duplicate {
  outcome: "duplicate";
  eventId: string;
}

export interface Rejected {
  outcome: "rejected";
  /** Which check refused it: an auth rule's number, or "format", "mls", "order", "origin", "hub", ... */
  rule: string;
  /** The message peers and clients see. */
  reason: string;
  status: number;
  errcode: ErrCode;
  /** Machine-readable extras of the answer (an MLS refusal's code and epoch). */
  fields?: Record<string, unknown>;
}

/** Ordered and stored, but not allowed to change state (full-mesh rooms; LM rooms produce none today). */
export interface SoftFailed {
  outcome: "soft-failed";
  eventId: string;
  reason: string;
}

export type Verdict = Accepted | Duplicate | Rejected | SoftFailed;

export function rejected(rule: string, reason: string, status = 403, errcode: ErrCode = "M_FORBIDDEN", fields?: Record<string, unknown>): Rejected {
  return fields ? { outcome: "rejected", rule, reason, status, errcode, fields } : { outcome: "rejected", rule, reason, status, errcode };
}

/**
 * A refusal that arrived as a MatrixError from a check written to throw (format, MLS, encryption).
 * Anything else is a failure of the machinery, not a verdict on the event, and is thrown on.
 */
export function rejectedBy(rule: string, e: unknown): Rejected {
  if (!(e instanceof MatrixError)) throw e;
  return rejected(rule, e.message, e.status, e.errcode, Object.keys(e.extra).length > 0 ? { ...e.extra } : undefined);
}

// --- the edge --------------------------------------------------------------------------------

export function toMatrixError(r: Rejected): MatrixError {
  return new MatrixError(r.status, r.errcode, r.reason, r.fields ?? {});
}

/** The event ID of an accepted or known event; a refusal becomes the caller's error. */
export function eventIdOrThrow(v: Verdict): string {
  if (v.outcome === "rejected") throw toMatrixError(v);
  return v.eventId;
}

/** The accepted event; a refusal becomes the caller's error (where nothing but a new event will do). */
export function acceptedOrThrow(v: Verdict): Accepted {
  if (v.outcome === "accepted") return v;
  throw toMatrixError(v.outcome === "rejected" ? v : rejected("internal", `Event ${v.eventId} was not newly accepted`, 500, "M_UNKNOWN"));
}

/**
 * Why a PDU or LPDU was refused, keyed by the ID of what was received (draft "failed_pdus"). Beside
 * the draft's `error`, an entry carries the refusal's machine-readable fields (an MLS refusal's
 * `mls_code` and `current_epoch`; scalars only), so a participant need not parse them out of the text.
 */
export type FailedPdus = Record<string, { error: string } & Record<string, string | number>>;

/** The failed_pdus of a transaction: refused items only; duplicates and soft failures are not errors to the sender. */
export function failedPdus(results: ReadonlyArray<{ id: string; verdict: Verdict }>): FailedPdus {
  const out: FailedPdus = {};
  for (const { id, verdict } of results) {
    if (verdict.outcome !== "rejected") continue;
    const entry: FailedPdus[string] = { error: verdict.reason };
    for (const [k, v] of Object.entries(verdict.fields ?? {})) if (k !== "error" && (typeof v === "string" || typeof v === "number")) entry[k] = v;
    out[id] = entry;
  }
  return out;
}

/** What becomes of a Welcome: sent now (its commit is accepted), held until it is, or refused with why. */
/** "deliver": the commit is accepted; the Welcomes for `viaMimi` (users of MIMI followers) went the MIMI way, the rest go to-device. */
export type WelcomeVerdict = { kind: "deliver"; viaMimi?: string[] } | { kind: "held" } | { kind: "refused"; reason: string };
