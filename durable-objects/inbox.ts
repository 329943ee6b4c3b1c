// One remote server's inbound transactions (draft "PUT /send/:txnId", "Transaction Identifiers").
// It holds the transaction in flight and recent answers, so a repeated txnId is answered without
// processing it again and a different txnId while one is in flight gets 400 M_BAD_STATE. The items
// arrive verified by the Worker; this object hands them to their rooms and merges the failures.
// Answers are kept in memory only: rooms drop duplicate events themselves, so reprocessing a
// transaction after an eviction gives the same outcome.

import { DurableObject } from "cloudflare:workers";
import { MatrixError } from "../shared/errors.js";
import type { Lpdu, Pdu } from "../shared/event.js";
import type { FailedPdus } from "./room.js";

export interface InboundItem {
  /** The ID of what was received (failed_pdus is keyed by it). */
  id: string;
  roomId: string;
  lpdu?: Lpdu;
  pdu?: Pdu;
}

export interface TransactionAnswer {
  failed_pdus: FailedPdus;
}

const REMEMBERED = 256;
/** A transaction the sender has not finished after this long no longer blocks the next one. */
const STALE_MS = 120_000;

export class Inbox extends DurableObject<Env> {
  private inFlight: { txnId: string; started: number; answer: Promise<TransactionAnswer> } | undefined;
  private readonly answers = new Map<string, TransactionAnswer>();

  /**
   * Processes one transaction from `origin`. `preFailed` are items the Worker already refused
   * (bad signature or hash); they are reported alongside the rooms' refusals.
   */
  async transaction(origin: string, txnId: string, items: InboundItem[], preFailed: FailedPdus): Promise<TransactionAnswer> {
    const done = this.answers.get(txnId);
    if (done) return done;
    if (this.inFlight) {
      if (this.inFlight.txnId === txnId) return this.inFlight.answer;
      if (Date.now() - this.inFlight.started < STALE_MS) {
        throw new MatrixError(400, "M_BAD_STATE", `Transaction ${this.inFlight.txnId} from ${origin} is still being processed`);
      }
    }
    const answer = this.process(origin, items, preFailed);
    const entry = { txnId, started: Date.now(), answer };
    this.inFlight = entry;
    try {
      const result = await answer;
      this.answers.set(txnId, result);
      if (this.answers.size > REMEMBERED) this.answers.delete(this.answers.keys().next().value as string);
      return result;
    } finally {
      if (this.inFlight === entry) this.inFlight = undefined;
    }
  }

  private async process(origin: string, items: InboundItem[], preFailed: FailedPdus): Promise<TransactionAnswer> {
    const byRoom = new Map<string, InboundItem[]>();
    for (const it of items) {
      const list = byRoom.get(it.roomId) ?? [];
      list.push(it);
      byRoom.set(it.roomId, list);
    }
    const failed: FailedPdus = { ...preFailed };
    await Promise.all(
      [...byRoom].map(async ([roomId, list]) => {
        const room = this.env.ROOM.get(this.env.ROOM.idFromName(roomId));
        try {
          const f = await room.receive(
            origin,
            list.map(({ id, lpdu, pdu }) => ({ id, ...(lpdu ? { lpdu } : {}), ...(pdu ? { pdu } : {}) })),
          );
          Object.assign(failed, f);
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          for (const it of list) failed[it.id] = { error };
        }
      }),
    );
    return { failed_pdus: failed };
  }
}
