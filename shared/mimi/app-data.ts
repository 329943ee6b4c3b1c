// AppDataDictionary and AppDataUpdate (draft-ietf-mls-extensions §4.6, as MIMI -06 uses them for the
// participant list, room metadata, franking agent and its own extension points).

import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

/** MIMI -06 §10 component IDs (uint16). */
export const COMPONENT_ID = {
  frankAad: 0x0020,
  frankingSignatureKey: 0x0021,
  participantList: 0x0022,
  roomMetadata: 0x0023,
} as const;

/** `struct { ComponentID component_id; opaque data<V>; } ComponentData;` */
export interface ComponentData {
  componentId: number;
  data: Uint8Array;
}

/** `struct { ComponentData component_data<V>; } AppDataDictionary;` sorted by ID, no duplicates. */
export type AppDataDictionary = ComponentData[];

export function readAppDataDictionary(r: Reader): AppDataDictionary {
  const entries = r.vector((rr) => ({
    componentId: rr.field("component_id", (x) => x.u16()),
    data: rr.field("data", (x) => x.opaque()),
  }));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.componentId <= entries[i - 1]!.componentId) {
      r.fail("invalid_value", "component_data not sorted by component_id or has a duplicate");
    }
  }
  return entries;
}

export function writeAppDataDictionary(w: Writer, dict: AppDataDictionary): void {
  const sorted = [...dict].sort((a, b) => a.componentId - b.componentId);
  w.vector(sorted, (ww, e) => ww.u16(e.componentId).opaque(e.data));
}

/** `enum { invalid(0), update(1), remove(2), (255) } AppDataUpdateOperation;` */
export const APP_DATA_UPDATE_OPERATION = { update: 1, remove: 2 } as const;

/** The body of an AppDataUpdate proposal for one component. */
export type AppDataUpdate =
  | { componentId: number; op: "update"; update: Uint8Array }
  | { componentId: number; op: "remove" };

export function readAppDataUpdate(r: Reader): AppDataUpdate {
  const componentId = r.field("component_id", (x) => x.u16());
  const op = r.field("op", (x) => x.enumU8(APP_DATA_UPDATE_OPERATION));
  if (op === "remove") return { componentId, op };
  return { componentId, op, update: r.field("update", (x) => x.opaque()) };
}

export function writeAppDataUpdate(w: Writer, u: AppDataUpdate): void {
  w.u16(u.componentId).u8(APP_DATA_UPDATE_OPERATION[u.op]);
  if (u.op === "update") w.opaque(u.update);
}

export const encodeAppDataUpdate = (u: AppDataUpdate): Uint8Array => encodeBody((w) => writeAppDataUpdate(w, u));
export const decodeAppDataUpdate = (bytes: Uint8Array): Decoded<AppDataUpdate> => decodeBody("AppDataUpdate", bytes, readAppDataUpdate);
export const encodeAppDataDictionary = (d: AppDataDictionary): Uint8Array => encodeBody((w) => writeAppDataDictionary(w, d));
export const decodeAppDataDictionary = (bytes: Uint8Array): Decoded<AppDataDictionary> =>
  decodeBody("AppDataDictionary", bytes, readAppDataDictionary);
