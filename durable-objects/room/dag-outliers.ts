// Checks on events learnt at a gap in a full-mesh room (server-server spec "Checks performed on
// receipt of a PDU", as applied to outliers): the state at a gap and the auth chains that come with
// it are each authorized against their own auth events before the gap's state uses them. Signatures
// and hashes were checked by the Worker as they were fetched (events failing those never get here:
// the spec drops them). Auth events we lack are fetched from the server, a bounded number of times;
// an event whose auth events stay unknown is left out (neither stored nor used), one that fails the
// auth rules, or cites a rejected event, is rejected.

import { stateKeyOf, type Pdu } from "../../shared/event.js";
import type { RoomVersion } from "../../shared/room-version.js";
import { authAgainst } from "./dag-auth.js";

/** Requests for missing auth events at one gap (each an event_auth, or an event when that fails). */
export const MAX_AUTH_FETCHES = 10;

export interface OutlierSource {
  /** The auth chain of an event, from the server that named it (verified, with their IDs). */
  authChain(eventId: string): Promise<ReadonlyMap<string, Pdu>>;
  /** One event by ID (verified; the answer must hash to the ID asked). */
  event(eventId: string): Promise<Pdu | undefined>;
}

export interface OutlierCheckArgs {
  version: RoomVersion;
  /** The events fetched at the gap, by ID. */
  fetched: ReadonlyMap<string, Pdu>;
  /** A stored event's standing: "rejected", "ok" (stored, not rejected) or undefined (not held). */
  standing(id: string): "ok" | "rejected" | undefined;
  /** Stored events that are not rejected. */
  getEvent(id: string): Pdu | undefined;
  source: OutlierSource;
  /** The room's create event (v12 auth events leave it out). */
  roomCreate?: Pdu;
  /** At most this many events in all (fetched plus auth chains). */
  maxEvents: number;
}

export interface OutlierVerdicts {
  accepted: Map<string, Pdu>;
  rejected: Map<string, { pdu: Pdu; reason: string }>;
  /** Left out: an auth event could not be had. */
  unknown: Set<string>;
}

export async function checkOutliers(args: OutlierCheckArgs): Promise<OutlierVerdicts> {
  const pool = new Map(args.fetched);
  await fetchMissingAuth(args, pool);
  const out: OutlierVerdicts = { accepted: new Map(), rejected: new Map(), unknown: new Set() };
  const judging = new Set<string>();
  const lookup = (id: string): Pdu | undefined => out.accepted.get(id) ?? args.getEvent(id);

  const judge = (id: string): void => {
    const e = pool.get(id);
    if (!e || out.accepted.has(id) || out.rejected.has(id) || out.unknown.has(id)) return;
    // An auth cycle cannot be authorized.
    if (judging.has(id)) return void out.unknown.add(id);
    judging.add(id);
    for (const a of e.auth_events) if (pool.has(a)) judge(a);
    judging.delete(id);
    if (out.unknown.has(id)) return;
    const verdict = verdictOf(args, e, out, lookup);
    if (verdict === "unknown") out.unknown.add(id);
    else if (verdict === "ok") out.accepted.set(id, e);
    else out.rejected.set(id, { pdu: e, reason: verdict.reason });
  };
  for (const id of pool.keys()) judge(id);
  return out;
}

function verdictOf(args: OutlierCheckArgs, e: Pdu, out: OutlierVerdicts, lookup: (id: string) => Pdu | undefined): "ok" | "unknown" | { reason: string } {
  // The room's own create event is never fetched (we hold it); any other one is an impostor.
  if (e.type === "m.room.create") return { reason: "a room has one create event" };
  const own = new Map<string, string>();
  for (const a of e.auth_events) {
    if (out.rejected.has(a) || (!out.accepted.has(a) && args.standing(a) === "rejected")) return { reason: `auth event ${a} was rejected` };
    const auth = lookup(a);
    if (!auth) return "unknown";
    if (typeof auth.state_key === "string") own.set(stateKeyOf(auth.type, auth.state_key), a);
  }
  const v = authAgainst(args.version, e, own, e.auth_events, lookup, args.roomCreate);
  return v.ok ? "ok" : { reason: `auth rule ${v.rule}: ${v.reason}` };
}

/** Auth events cited in `pool` that we neither hold nor fetched. */
function missingAuth(args: OutlierCheckArgs, pool: ReadonlyMap<string, Pdu>): Map<string, string> {
  const missing = new Map<string, string>(); // missing ID -> an event citing it
  for (const [id, e] of pool) for (const a of e.auth_events) if (!pool.has(a) && args.standing(a) === undefined && !missing.has(a)) missing.set(a, id);
  return missing;
}

async function fetchMissingAuth(args: OutlierCheckArgs, pool: Map<string, Pdu>): Promise<void> {
  const asked = new Set<string>();
  for (let requests = 0; requests < MAX_AUTH_FETCHES; requests++) {
    const missing = missingAuth(args, pool);
    if (missing.size === 0) return;
    // The auth chain of an event citing a missing one brings that one and what it needs in one request.
    const citing = [...missing.values()].find((id) => !asked.has(id));
    if (citing !== undefined) {
      asked.add(citing);
      for (const [id, e] of await args.source.authChain(citing)) if (pool.size < args.maxEvents && !pool.has(id) && args.standing(id) === undefined) pool.set(id, e);
      continue;
    }
    // Every citing event's chain was asked for: the missing ones one by one.
    const next = [...missing.keys()].find((id) => !asked.has(id));
    if (next === undefined || pool.size >= args.maxEvents) return;
    asked.add(next);
    const e = await args.source.event(next);
    if (e) pool.set(next, e);
  }
}
