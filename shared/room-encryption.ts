// A room's encryption can only ever stay as strong as it is (issue 7; draft -04 "MLS Considerations"):
// the `m.room.create` event fixes whether the room is an MLS room, and nothing later may turn encryption
// off or swap its algorithm. These are the hub's checks on top of the room version's auth rules, which
// know nothing about encryption. Pure: the Room supplies the events involved.
//
// - An MLS room is one whose `m.room.create` content has `encryption.algorithm` naming a supported MLS
//   ciphersuite (shared/mls-algorithm.ts). A create event with an `encryption` the hub cannot enforce is
//   refused, because accepting it would promise members a protection nobody checks.
// - In an MLS room, `m.room.encryption` may only restate the create event's algorithm.
// - In any other room, once `m.room.encryption` names an algorithm, later ones must name the same one
//   (Matrix clients switch encryption off when the event disappears or names something unknown).
// - Redacting the current `m.room.encryption` would strip its algorithm, so it is refused; in MLS rooms
//   so is redacting an `m.mls.commit`, whose content every member needs to follow the group.

import type { CiphersuiteName } from "ts-mls/crypto/ciphersuite.js";
import { ciphersuiteOfAlgorithm, MLS_ALGORITHM_PREFIX } from "./mls-algorithm.js";

export const ENCRYPTION_EVENT = "m.room.encryption";
export const MLS_COMMIT_EVENT = "m.mls.commit";
export const ENCRYPTED_EVENT = "m.room.encrypted";

export type RoomEncryption = { mls: true; algorithm: string; suite: CiphersuiteName } | { mls: false };

export type EncryptionVerdict = { ok: true } | { ok: false; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const refuse = (reason: string): EncryptionVerdict => ({ ok: false, reason });
const OK: EncryptionVerdict = { ok: true };

/** What an `m.room.create` content says about encryption, or why the hub cannot accept it. */
export function encryptionOfCreate(content: Record<string, unknown> | undefined): { ok: true; encryption: RoomEncryption } | { ok: false; reason: string } {
  const enc = content?.["encryption"];
  if (enc === undefined) return { ok: true, encryption: { mls: false } };
  if (!isObject(enc) || typeof enc["algorithm"] !== "string") return { ok: false, reason: "m.room.create encryption must be an object with an algorithm" };
  const algorithm = enc["algorithm"];
  const suite = ciphersuiteOfAlgorithm(algorithm);
  if (suite === undefined) {
    const what = algorithm.startsWith(MLS_ALGORITHM_PREFIX) ? "an unsupported MLS ciphersuite" : "not an MLS algorithm";
    return { ok: false, reason: `m.room.create encryption.algorithm ${JSON.stringify(algorithm.slice(0, 100))} is ${what}` };
  }
  return { ok: true, encryption: { mls: true, algorithm, suite } };
}

/** The algorithm an `m.room.encryption` content names, if it names one. */
function algorithmOf(content: Record<string, unknown> | undefined): string | undefined {
  const a = content?.["algorithm"];
  return typeof a === "string" && a.length > 0 ? a : undefined;
}

/**
 * A new `m.room.encryption` state event (state key ""), given the room's encryption and the content of
 * the current one (undefined when there is none).
 */
export function checkEncryptionEvent(room: RoomEncryption, current: Record<string, unknown> | undefined, content: Record<string, unknown>): EncryptionVerdict {
  const next = algorithmOf(content);
  if (room.mls) {
    if (next !== room.algorithm) return refuse(`this MLS room's encryption is ${room.algorithm} and cannot be changed`);
    return OK;
  }
  const before = algorithmOf(current);
  if (before !== undefined && next !== before) return refuse(`encryption ${before} cannot be disabled or changed`);
  if (next === undefined) return refuse("m.room.encryption must name an algorithm");
  return OK;
}

/** A redaction of `target` (its type and state key), `isCurrent` when it is the current state event of its kind. */
export function checkRedaction(room: RoomEncryption, target: { type: string; stateKey?: string; isCurrent: boolean }): EncryptionVerdict {
  if (target.type === ENCRYPTION_EVENT && target.stateKey === "" && target.isCurrent) return refuse("redacting the room's m.room.encryption would disable encryption");
  if (room.mls && target.type === MLS_COMMIT_EVENT) return refuse("an accepted m.mls.commit cannot be redacted: members need it to follow the group");
  return OK;
}
