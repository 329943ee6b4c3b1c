// What every room protocol shares: the room's identity, its ordered log and current state, the
// single writer, and commit. A commit stores the event at the next position and hands the
// committed record to the listeners (fan-out, notifications, the D1 index, MLS), which subscribe
// instead of being called by hand. The core knows no protocol.

import { canonicalJson } from "../../shared/canonical-json.js";
import { stateKeyOf, type Pdu } from "../../shared/event.js";
import { redactionMayBeApplied, redactionTargetOf } from "../../shared/redaction-auth.js";
import type { RoomState } from "../../shared/room-state.js";
import type { RoomVersion } from "../../shared/room-version.js";
import type { MlsEffect } from "../room-mls.js";
import type { RoomStore } from "./ports.js";
import { rejected, rejectedBy, type Rejected } from "./verdict.js";
import type { Writer, WriterSection } from "./writer.js";

export interface RoomIdentity {
  readonly roomId: string;
  readonly version: RoomVersion;
  /** The server that orders the room (LM); the room's creator for rooms without a hub. */
  readonly hub: string;
}

/** The newest event on the timeline. */
export interface Tip {
  eventId: string;
  pos: number;
  pdu: Pdu;
}

export interface CommitInput {
  eventId: string;
  pdu: Pdu;
  lpduHash?: string | undefined;
  /** Servers the event goes to (the protocol decides; none when another server fans it out). */
  destinations: readonly string[];
  mls?: MlsEffect | undefined;
  /**
   * Full-mesh rooms: the room's current state after this event (stateKeyOf -> event ID), which state
   * resolution decides; without it the event is applied on top of current state.
   */
  resolvedState?: ReadonlyMap<string, string> | undefined;
  /** The event is stored already without a position (an outlier): it is placed, not inserted. */
  placeOutlier?: boolean;
  /** Writes of the protocol's own that belong in the same storage transaction. */
  alsoStore?: () => void;
}

export interface Committed {
  roomId: string;
  eventId: string;
  pos: number;
  pdu: Pdu;
  destinations: readonly string[];
  mls?: MlsEffect | undefined;
}

export interface CommitListener {
  /** Inside the commit's storage transaction, before memory changes: what must be stored with the event. */
  record?(c: Committed): void;
  /** After the transaction, with state and tip moved: queue the work the event causes. */
  committed?(c: Committed): void;
  /** No batch is open any more: start the queued work. */
  settle?(): void;
}

export class RoomCore {
  private tip: Tip | undefined;
  private batching = 0;

  constructor(
    readonly identity: RoomIdentity,
    readonly state: RoomState,
    readonly store: RoomStore,
    private readonly section: WriterSection,
    private readonly transaction: (fn: () => void) => void,
    private readonly listeners: readonly CommitListener[],
  ) {}

  /** Reads current state and the timeline tip back from storage (a restarted object). */
  loadFromStore(): void {
    const current = this.store.currentState();
    const redacted = this.store.redactionsOf(current.map((e) => e.eventId));
    for (const e of current) {
      const pdu = JSON.parse(e.json) as Pdu;
      this.state.apply(e.eventId, redacted.has(e.eventId) ? (this.identity.version.redact(pdu) as Pdu) : pdu);
    }
    const last = this.store.lastEvent();
    const stored = last && this.store.getEvent(last.eventId);
    if (last && stored) this.tip = { eventId: last.eventId, pos: last.pos, pdu: JSON.parse(stored.json) as Pdu };
  }

  /** The newest timeline event; undefined until the room's first event (creation, or our first join) commits. */
  get last(): Tip | undefined {
    return this.tip;
  }

  get roomId(): string {
    return this.identity.roomId;
  }

  get version(): RoomVersion {
    return this.identity.version;
  }

  exclusive<T>(fn: (w: Writer) => Promise<T>): Promise<T> {
    return this.section.run(fn);
  }

  /**
   * Runs a batch of commits (a transaction's events): listeners settle once at its end, so one
   * fan-out announcement and one round of notifications carry the whole batch.
   */
  async batch<T>(_w: Writer, fn: () => Promise<T>): Promise<T> {
    this.batching++;
    try {
      return await fn();
    } finally {
      this.batching--;
      if (this.batching === 0) this.settle();
    }
  }

  eventById(eventId: string): Pdu | undefined {
    if (this.tip?.eventId === eventId) return this.tip.pdu;
    for (const e of this.state.all()) if (e.eventId === eventId) return e.pdu;
    const stored = this.store.getEvent(eventId);
    return stored ? (JSON.parse(stored.json) as Pdu) : undefined;
  }

  checkFormat(pdu: Pdu): Rejected | undefined {
    try {
      this.identity.version.checkFormat(pdu);
      return undefined;
    } catch (e) {
      return rejectedBy("format", e);
    }
  }

  /** The auth rules against current state, with the event's own auth events. */
  authorize(pdu: Pdu, authEventIds: readonly string[] = pdu.auth_events): Rejected | undefined {
    const authEvents: Pdu[] = [];
    for (const id of authEventIds) {
      const e = this.eventById(id);
      if (e) authEvents.push(e);
    }
    const result = this.identity.version.checkAuth({
      event: pdu,
      state: this.state,
      authEvents,
      createEvent: this.state.get("m.room.create", ""),
      prevEvent: this.tip?.pdu,
    });
    return result.allowed ? undefined : rejected(result.rule, `Auth rule ${result.rule}: ${result.reason}`);
  }

  /** Persists an accepted event at the next position, moves state and tip, and tells the listeners. */
  commit(_w: Writer, input: CommitInput): Committed {
    const { eventId, pdu } = input;
    const pos = (this.tip?.pos ?? 0) + 1;
    // Canonical JSON, so fan-out can assemble transactions from the stored text as is.
    const json = canonicalJson(pdu);
    const redacted = this.redactionTarget(eventId, pdu);
    const c: Committed = { roomId: this.identity.roomId, eventId, pos, pdu, destinations: input.destinations, mls: input.mls };
    const changes = input.resolvedState && this.stateChanges(input.resolvedState, eventId, pdu);
    this.transaction(() => {
      if (redacted) this.store.putRedaction(redacted.targetId, eventId, json);
      if (input.placeOutlier) this.store.setEventPos(eventId, pos);
      else {
        const insert: Parameters<RoomStore["insertEvent"]>[0] = { eventId, pos, type: pdu.type, sender: pdu.sender, json };
        if (pdu.state_key !== undefined) insert.stateKey = pdu.state_key;
        if (input.lpduHash !== undefined) insert.lpduHash = input.lpduHash;
        this.store.insertEvent(insert);
      }
      if (changes) {
        for (const { eventId: id, pdu: e } of changes.set) this.store.setCurrentState(e.type, e.state_key as string, id);
        for (const e of changes.removed) this.store.deleteCurrentState(e.type, e.state_key as string);
      } else if (typeof pdu.state_key === "string") this.store.setCurrentState(pdu.type, pdu.state_key, eventId);
      input.alsoStore?.();
      for (const l of this.listeners) l.record?.(c);
    });
    if (changes) {
      for (const { eventId: id, pdu: e } of changes.set) this.state.apply(id, e);
      for (const e of changes.removed) this.state.remove(e.type, e.state_key as string);
    } else this.state.apply(eventId, pdu);
    // A redacted state event counts in its redacted form from now on, as in Matrix.
    if (redacted?.stateEntry) this.state.apply(redacted.targetId, this.identity.version.redact(redacted.target) as Pdu);
    this.tip = { eventId, pos, pdu };
    for (const l of this.listeners) l.committed?.(c);
    if (this.batching === 0) this.settle();
    return c;
  }

  /** What moves current state to `target` (the event being committed may be among it). */
  private stateChanges(target: ReadonlyMap<string, string>, eventId: string, pdu: Pdu): { set: Array<{ eventId: string; pdu: Pdu }>; removed: Pdu[] } {
    const set: Array<{ eventId: string; pdu: Pdu }> = [];
    const removed: Pdu[] = [];
    for (const [key, id] of target) {
      if (this.state.entryByKey(key)?.eventId === id) continue;
      const e = id === eventId ? pdu : this.eventById(id);
      if (!e) throw new Error(`resolved state names ${id}, which is not stored`);
      set.push({ eventId: id, pdu: e });
    }
    for (const entry of this.state.all()) if (typeof entry.pdu.state_key === "string" && !target.has(stateKeyOf(entry.pdu.type, entry.pdu.state_key))) removed.push(entry.pdu);
    return { set, removed };
  }

  private settle(): void {
    for (const l of this.listeners) l.settle?.();
  }

  /** Whether `redaction` strips `target` under the room's rules (also for history fetched late). */
  mayRedact(redactionId: string, redaction: Pdu, targetId: string, target: Pdu): boolean {
    const createEvent = this.state.get("m.room.create", "");
    return redactionMayBeApplied(redaction, target, { redactionId, targetId, state: this.state, version: this.identity.version.authRules, ...(createEvent ? { createEvent } : {}) });
  }

  /**
   * The event an accepted redaction strips, when the rules let it (shared/redaction-auth.ts): the
   * redaction's sender holds the redact level or shares a server with the target's sender.
   */
  private redactionTarget(eventId: string, pdu: Pdu): { targetId: string; target: Pdu; stateEntry: boolean } | undefined {
    if (pdu.type !== "m.room.redaction") return undefined;
    const targetId = redactionTargetOf(pdu);
    if (targetId === undefined) return undefined;
    const stored = this.store.getEvent(targetId);
    if (!stored) return undefined;
    const target = JSON.parse(stored.json) as Pdu;
    if (!this.mayRedact(eventId, pdu, targetId, target)) return undefined;
    const stateEntry = typeof target.state_key === "string" && this.state.eventIdOf(target.type, target.state_key) === targetId;
    return { targetId, target, stateEntry };
  }
}
