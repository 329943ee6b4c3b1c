// The per-origin transaction rules of draft -04 "PUT /send/:txnId": a repeated txnId is answered
// without processing it again; a different txnId while one is in flight gets 400 M_BAD_STATE.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Inbox } from "../../durable-objects/inbox.js";

const inbox = (origin: string) => env.INBOX.get(env.INBOX.idFromName(origin));

type InFlight = { txnId: string; started: number; answer: Promise<unknown> };

describe("Inbox transactions", () => {
  it("answers a repeated transaction ID with the first answer", async () => {
    const box = inbox("repeat.test");
    const pre = { $x: { error: "bad signature" } };
    const first = await box.transaction("repeat.test", "t1", [], pre);
    // Same ID, different content: the stored answer comes back, the new content is not processed.
    const again = await box.transaction("repeat.test", "t1", [], {});
    expect(again).toEqual(first);
    expect(again.failed_pdus).toEqual(pre);
  });

  it("refuses a second transaction ID while another is in flight with 400 M_BAD_STATE", async () => {
    const box = inbox("busy.test");
    await runInDurableObject(box, (instance: Inbox) => {
      (instance as unknown as { inFlight: InFlight }).inFlight = { txnId: "slow", started: Date.now(), answer: new Promise(() => {}) };
    });
    // Settle the RPC promise ourselves: workerd reports a rejected RPC promise as unhandled otherwise.
    const err = await box.transaction("busy.test", "other", [], {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ errcode: "M_BAD_STATE", status: 400 });
  });

  it("lets a new transaction through once an abandoned one has gone stale", async () => {
    const box = inbox("stale.test");
    await runInDurableObject(box, (instance: Inbox) => {
      (instance as unknown as { inFlight: InFlight }).inFlight = { txnId: "gone", started: Date.now() - 10 * 60_000, answer: new Promise(() => {}) };
    });
    const answer = await box.transaction("stale.test", "next", [], {});
    expect(answer).toEqual({ failed_pdus: {} });
  });

  it("keeps origins apart: one server's transaction in flight does not block another's", async () => {
    await runInDurableObject(inbox("a.test"), (instance: Inbox) => {
      (instance as unknown as { inFlight: InFlight }).inFlight = { txnId: "slow", started: Date.now(), answer: new Promise(() => {}) };
    });
    expect(await inbox("b.test").transaction("b.test", "t", [], {})).toEqual({ failed_pdus: {} });
  });
});
