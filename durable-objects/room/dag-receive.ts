// The checks on receipt of a PDU in a full-mesh room (server-server spec "Checks performed on receipt
// of a PDU"), after the Worker has checked format, signatures and hashes (redacting on a hash
// mismatch): auth against the event's own auth events, then against the state before it (resolved
// over its parents' states), then against current state. Failing either of the first two rejects the
// event (stored, never state nor a parent); failing the last soft-fails it (stored, not shown, not an
// extremity). Parents we do not know are fetched first (dag-missing.ts); an event whose parents or
// auth events stay unknown is refused without being stored, so it can be judged when they arrive.

import type { Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { serverNameOf } from "../../shared/ids.js";
import type { RoomCore } from "./core.js";
import { authAgainst } from "./dag-auth.js";
import { depthAfter } from "./dag-extremities.js";
import type { DagGraph } from "./dag-graph.js";
import type { DagPlacer } from "./dag-place.js";
import { softFailCheck } from "./dag-soft-fail.js";
import { rejected, type Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** Fetches what a PDU needs before it can be judged: its missing parents and auth events. */
export interface GapFiller {
  fill(w: Writer, origin: string, pdu: Pdu, eventId: string): Promise<void>;
  /** Of a page of history from `origin`, the events held already or passing the auth rules against their own auth events. */
  vetHistory(origin: string, pdus: readonly Pdu[]): Promise<Pdu[]>;
}

export class DagReceiver {
  gaps: GapFiller | undefined;
  /** A reason to soft-fail an event that passes the auth rules (the converter's, converter-mesh.ts). */
  screen: ((pdu: Pdu) => string | undefined) | undefined;

  constructor(
    private readonly core: RoomCore,
    private readonly graph: DagGraph,
    private readonly placer: DagPlacer,
  ) {}

  /** One PDU from `origin` (verified by the Worker). `destinations`: who else must get it (send_join), usually nobody. */
  async receive(w: Writer, origin: string, pdu: Pdu, destinations: readonly string[] = [], fetchGaps = true): Promise<Verdict> {
    const version = this.core.version;
    const refused = this.core.checkFormat(pdu);
    if (refused) return refused;
    if (pdu.room_id !== this.core.roomId) return rejected("format", "Event is for another room", 400, "M_BAD_JSON");
    const eventId = await eventIdOf(pdu, version);
    const known = this.graph.row(eventId);
    if (known && known.status !== "outlier") return known.status === "rejected" ? rejected("auth", "Event was rejected before") : { outcome: "duplicate", eventId };
    if (pdu.type === "m.room.create") return rejected("format", "A room has one create event");
    if (fetchGaps && this.gaps && pdu.prev_events.some((p) => !this.graph.hasStateAfter(p))) await this.gaps.fill(w, origin, pdu, eventId);
    const depth = depthAfter(pdu.prev_events.map((p) => this.graph.row(p)?.depth ?? 0));
    const getEvent = this.graph.getEvent;

    // 4. The event's own auth events, which must be known and not rejected.
    const ownAuth = new Map<string, string>();
    for (const id of pdu.auth_events) {
      const row = this.graph.row(id);
      const e = getEvent(id);
      // An unknown auth event leaves the event unjudged (nothing stored: it may pass once we learn it).
      if (!e) return rejected("auth_events", `Auth event ${id} is not known here`);
      if (row?.status === "rejected") return this.reject({ eventId, pdu, depth, before: null }, "auth", `auth event ${id} was rejected`);
      if (typeof e.state_key === "string") ownAuth.set(`${e.type}\u0000${e.state_key}`, id);
    }
    const byAuth = authAgainst(version, pdu, ownAuth, pdu.auth_events, getEvent, this.core.state.get("m.room.create", ""));
    if (!byAuth.ok) return this.reject({ eventId, pdu, depth, before: null }, byAuth.rule, byAuth.reason);

    // 5. The state before the event. Parents we could not learn the state of are left out.
    const parents = pdu.prev_events.filter((p) => this.graph.hasStateAfter(p));
    if (parents.length === 0) return rejected("prev_events", "None of the event's parents is known here, nor the state at them");
    const before = this.graph.stateBefore(parents);
    const byState = authAgainst(version, pdu, before.state, pdu.auth_events, getEvent, this.core.state.get("m.room.create", ""));
    if (!byState.ok) return this.reject({ eventId, pdu, depth, before: before.group }, byState.rule, byState.reason);

    // 6. Current state: the soft-fail check, with auth events chosen from current state.
    const byCurrent = softFailCheck(version, pdu, this.graph.currentIds(), getEvent, this.core.state.get("m.room.create", ""));
    if (!byCurrent.ok) {
      this.placer.offTimeline({ eventId, pdu, depth, before: before.group }, "soft-failed");
      return { outcome: "soft-failed", eventId, reason: `Auth rule ${byCurrent.rule} against current state: ${byCurrent.reason}` };
    }
    const screened = this.screen?.(pdu);
    if (screened !== undefined) {
      this.placer.offTimeline({ eventId, pdu, depth, before: before.group }, "soft-failed");
      return { outcome: "soft-failed", eventId, reason: screened };
    }
    this.placer.onTimeline(w, { eventId, pdu, depth, before: before.group }, destinations.filter((d) => d !== serverNameOf(pdu.sender)));
    return { outcome: "accepted", eventId, pdu };
  }

  private reject(e: { eventId: string; pdu: Pdu; depth: number; before: number | null }, rule: string, reason: string): Verdict {
    this.placer.offTimeline(e, "rejected");
    return rejected(rule, `Auth rule ${rule}: ${reason}`);
  }
}
