// The encryption a paired Matrix room starts with: the LM room's. Its `m.room.encryption` content as
// it stands (Megolm or MLS), else the MLS algorithm its create event fixes, so that Matrix clients in
// the paired room encrypt as the LM room's members do: pairing never downgrades a room's encryption.
// Later changes cross as state events (carried-events.ts); ones naming no algorithm never do.

import type { JsonObject } from "../canonical-json.js";

const algorithmOf = (content: Record<string, unknown> | undefined, field: "algorithm"): string | undefined => {
  const a = content?.[field];
  return typeof a === "string" && a.length > 0 ? a : undefined;
};

/** Whether an `m.room.encryption` content turns encryption on (names an algorithm). */
export const namesAlgorithm = (content: Record<string, unknown>): boolean => algorithmOf(content, "algorithm") !== undefined;

/** The `m.room.encryption` content the paired room is created with, or undefined for an unencrypted LM room. */
export function pairedEncryption(encryption: Record<string, unknown> | undefined, createContent: Record<string, unknown> | undefined): JsonObject | undefined {
  if (encryption && namesAlgorithm(encryption)) return { ...encryption } as JsonObject;
  const fixed = createContent?.["encryption"];
  const mls = typeof fixed === "object" && fixed !== null && !Array.isArray(fixed) ? algorithmOf(fixed as Record<string, unknown>, "algorithm") : undefined;
  return mls === undefined ? undefined : { algorithm: mls };
}
