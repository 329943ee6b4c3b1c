// The per-origin transaction rules of draft -04 "PUT /send/:txnId": a repeated txnId is answered
// without processing it again; a different txnId while one is in flight gets 400 M_BAD_STATE; a
// server over its PDU rate gets 429 M_LIMIT_EXCEEDED (before anything is verified, except for the
// one-step `receive` of the smallest transactions, which applies the same rules).

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Inbox } from "../../durable-objects/inbox.js";

const inbox = (origin: string) => env.INBOX.get(env.INBOX.idFromName(origin));

/** Settles an RPC promise ourselves: workerd reports a rejected RPC promise as unhandled otherwise. */
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe("Inbox transactions", () => {
  it("answers a repeated transaction ID with the first answer, without processing it again", async () => {
    const box = inbox("repeat.test");
    expect(await box.begin("repeat.test", "t1", 1)).toEqual({});
    const pre = { $x: { error: "bad signature" } };
    const first = await box.finish("repeat.test", "t1", [], pre);
    const again = await box.begin("repeat.test", "t1", 1);
    expect(again.answer).toEqual(first);
    expect(again.answer?.failed_pdus).toEqual(pre);
  });

  it("refuses a second transaction ID while another is in flight with 400 M_BAD_STATE", async () => {
    const box = inbox("busy.test");
    await box.begin("busy.test", "slow", 1);
    expect(await failure(box.begin("busy.test", "other", 1))).toMatchObject({ errcode: "M_BAD_STATE", status: 400 });
    // Once the first finishes, the next one is admitted.
    await box.finish("busy.test", "slow", [], {});
    expect(await box.begin("busy.test", "other", 1)).toEqual({});
  });

  it("admits a retry of the transaction in flight (the sender timed out)", async () => {
    const box = inbox("retry.test");
    await box.begin("retry.test", "t", 1);
    expect(await box.begin("retry.test", "t", 1)).toEqual({});
  });

  it("lets a new transaction through once an abandoned one has gone stale", async () => {
    const box = inbox("stale.test");
    await box.begin("stale.test", "gone", 1);
    await runInDurableObject(box, (instance: Inbox) => {
      (instance as unknown as { inFlight: { started: number } }).inFlight.started = Date.now() - 10 * 60_000;
    });
    expect(await box.begin("stale.test", "next", 1)).toEqual({});
  });

  it("keeps origins apart: one server's transaction in flight does not block another's", async () => {
    await inbox("a.test").begin("a.test", "slow", 1);
    expect(await inbox("b.test").begin("b.test", "t", 1)).toEqual({});
  });

  it("receives a one-step transaction and answers its repeat from memory", async () => {
    const box = inbox("one-step.test");
    const pre = { $y: { error: "bad hash" } };
    const first = await box.receive("one-step.test", "t1", 1, [], pre);
    expect(first.failed_pdus).toEqual(pre);
    // The repeat carries nothing refused: an answer from memory still names the first one's refusal.
    expect(await box.receive("one-step.test", "t1", 1, [], {})).toEqual(first);
    expect((await box.begin("one-step.test", "t1", 1)).answer).toEqual(first);
  });

  it("refuses a one-step transaction while another is in flight with 400 M_BAD_STATE", async () => {
    const box = inbox("one-step-busy.test");
    await box.begin("one-step-busy.test", "slow", 1);
    expect(await failure(box.receive("one-step-busy.test", "quick", 1, [], {}))).toMatchObject({ errcode: "M_BAD_STATE", status: 400 });
    await box.finish("one-step-busy.test", "slow", [], {});
    expect(await box.receive("one-step-busy.test", "quick", 1, [], {})).toEqual({ failed_pdus: {} });
  });

  it("charges one-step transactions to the PDU rate (429 M_LIMIT_EXCEEDED)", async () => {
    const box = inbox("one-step-flood.test");
    let refused: unknown;
    for (let i = 0; i < 200 && refused === undefined; i++) refused = await failure(box.receive("one-step-flood.test", `t${i}`, 50, [], {}));
    expect(refused).toMatchObject({ errcode: "M_LIMIT_EXCEEDED", status: 429 });
  });

  it("answers 429 M_LIMIT_EXCEEDED with retry_after_ms once a server exceeds its PDU rate", async () => {
    const box = inbox("flood.test");
    let refused: unknown;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      refused = await failure(box.begin("flood.test", `t${i}`, 50));
      if (refused === undefined) await box.finish("flood.test", `t${i}`, [], {});
    }
    expect(refused).toMatchObject({ errcode: "M_LIMIT_EXCEEDED", status: 429 });
    expect((refused as { extra: { retry_after_ms: number } }).extra.retry_after_ms).toBeGreaterThan(0);
  });
});
