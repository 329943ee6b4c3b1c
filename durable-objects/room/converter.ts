// The converter as a commit listener: each committed event of a carried type in a paired room is
// queued (in the commit's own transaction, so a crash cannot lose it) for every paired room this
// server converts into, and after the commit the queue is handed to the target room's object,
// which writes the event through its own protocol (converter-import.ts). An LM room is converted
// from only by its hub, the one server that sees its order first; a full-mesh room by every
// converter its pairing names, the LM hub's dedup table answering the second copy. What converters
// themselves wrote (their ghosts' and service users' events, and provenance copies from a server
// the pairing does not name) is never carried on.

import { carriedAs } from "../../shared/converter/carried-events.js";
import { isConverterUser } from "../../shared/converter/converter-users.js";
import { hasProvenance, mayConvertInto } from "../../shared/converter/provenance.js";
import { PAIR_EVENT, parsePairing, type Pairing } from "../../shared/converter/pairing.js";
import type { Pdu } from "../../shared/event.js";
import type { RoomState } from "../../shared/room-state.js";
import type { QueuedConversion } from "../room-converter-storage.js";
import { serverNameOf } from "../../shared/ids.js";
import type { SeenKeys } from "./converter-seen.js";
import type { CommitListener, Committed, RoomCore } from "./core.js";
import { referencedCommitJson } from "./converter-mls.js";
import { membershipBefore } from "./converter-ban.js";

export interface ConverterQueue {
  enqueue(q: QueuedConversion): void;
  queued(limit: number): QueuedConversion[];
  dequeue(pos: number, targetRoom: string): void;
}

/** One event handed to the paired room's object. */
export interface ConversionItem {
  sourceRoomId: string;
  sourceVersion: string;
  eventId: string;
  pduJson: string;
  /** For an m.room.encrypted: the m.mls.commit its commit_event_id names (converter-mls.ts). */
  commitJson?: string | undefined;
  /** For a leave: the target's membership before it, so that an unban crosses as one (converter-ban.ts). */
  before?: string | undefined;
}

export interface ConverterPorts {
  /** Writes `item` into `targetRoom` (idempotent: a second copy is answered as a duplicate). */
  deliver(targetRoom: string, item: ConversionItem): Promise<void>;
  waitUntil(p: Promise<unknown>): void;
  alarmWithin(ms: number): Promise<void>;
}

const BATCH = 50;
const RETRY_MS = 2_000;

/** The pairings recorded in a room's current state (malformed ones are ignored). */
export function pairingsOf(state: RoomState): Pairing[] {
  const out: Pairing[] = [];
  for (const { pdu } of state.all()) {
    if (pdu.type !== PAIR_EVENT || typeof pdu.state_key !== "string") continue;
    const parsed = parsePairing(pdu.state_key, pdu.content);
    if ("paired" in parsed && parsed.paired) out.push(parsed.pairing);
  }
  return out;
}

/** Whether `pdu` is a converter's own writing as far as pairing `p` goes (see the file comment). */
function convertersOwn(pdu: Pdu, p: Pairing): boolean {
  if (isConverterUser(pdu.sender, p.converters)) return true;
  if (pdu.type === "m.room.member" && typeof pdu.state_key === "string" && isConverterUser(pdu.state_key, p.converters)) return true;
  return hasProvenance(pdu.content) && !p.converters.includes(serverNameOf(pdu.sender));
}

export class ConverterListener implements CommitListener {
  private pairings: Pairing[] | undefined;
  private flushing: Promise<void> | undefined;
  private pending = false;

  constructor(
    private readonly serverName: string,
    private readonly state: RoomState,
    private readonly queue: ConverterQueue,
    private readonly core: () => RoomCore | undefined,
    private readonly ports: ConverterPorts,
    private readonly seen?: SeenKeys,
  ) {}

  /** The pairings this server converts into from this room. */
  targets(): Pairing[] {
    const core = this.core();
    if (!core) return [];
    if (core.version.linearized && core.identity.hub !== this.serverName) return [];
    // A replica's first join commits before the state it joined with is in place: read it again later.
    const pairings = this.pairings ?? pairingsOf(this.state);
    if (this.state.get("m.room.create", "") !== undefined) this.pairings = pairings;
    return pairings.filter((p) => p.converters.includes(this.serverName));
  }

  record(c: Committed): void {
    if (!carriedAs(c.pdu)) return;
    for (const p of this.targets()) {
      if (mayConvertInto(c.pdu.content, p.peerRoomId) && !convertersOwn(c.pdu, p)) {
        this.queue.enqueue({ pos: c.pos, targetRoom: p.peerRoomId, eventId: c.eventId });
        this.pending = true;
      }
    }
  }

  committed(c: Committed): void {
    if (c.pdu.type === PAIR_EVENT) this.pairings = undefined;
    const core = this.core();
    if (this.seen && core && hasProvenance(c.pdu.content)) this.ports.waitUntil(this.seen.observe(core.roomId, c.eventId, c.pdu));
  }

  settle(): void {
    if (this.pending) this.ports.waitUntil(this.flush());
  }

  /** Hands queued events to their target rooms in order; a failure leaves the rest for the alarm. */
  flush(): Promise<void> {
    this.pending = false;
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      if (this.pending) this.ports.waitUntil(this.flush());
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    const core = this.core();
    if (!core) return;
    for (;;) {
      const rows = this.queue.queued(BATCH);
      if (rows.length === 0) return;
      for (const row of rows) {
        const pdu: Pdu | undefined = core.eventById(row.eventId);
        try {
          const byId = (id: string) => core.eventById(id);
          const commitJson = pdu && referencedCommitJson(pdu, byId);
          const before = pdu && membershipBefore(pdu, byId);
          if (pdu) await this.ports.deliver(row.targetRoom, { sourceRoomId: core.roomId, sourceVersion: core.version.id, eventId: row.eventId, pduJson: JSON.stringify(pdu), ...(commitJson ? { commitJson } : {}), ...(before ? { before } : {}) });
        } catch {
          await this.ports.alarmWithin(RETRY_MS);
          return;
        }
        this.queue.dequeue(row.pos, row.targetRoom);
      }
    }
  }
}
