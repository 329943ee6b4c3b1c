// Transaction IDs must never repeat towards a receiver: Synapse drops a repeated ID from an origin
// without processing it. A queue whose storage is wiped but whose name (destination) is kept starts
// its sequence numbers again, so the IDs carry a random prefix stored with the queue's state.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Destination } from "../../durable-objects/destination.js";
import { noWellKnown, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const REMOTE = "txnids.remote.example";
const typing = (n: number) => ({ roomId: "", id: `typing-${n}`, kind: "edu" as const, json: JSON.stringify({ content: { n }, edu_type: "m.typing" }) });

/** Records the transaction IDs sent to REMOTE and answers each with success. */
function recordTransactions(): string[] {
  const ids: string[] = [];
  stubFetch(noWellKnown, (req) => {
    if (!req.url.startsWith(`https://${REMOTE}:8448/`)) return undefined;
    const m = /\/send\/([^/?]+)$/.exec(new URL(req.url).pathname);
    if (!m?.[1]) return undefined;
    ids.push(decodeURIComponent(m[1]));
    return Response.json({ pdus: {} });
  });
  return ids;
}

async function until<T>(read: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Destination transaction IDs", () => {
  it("never repeat after the queue's storage is wiped and the same destination is used again", async () => {
    const ids = recordTransactions();
    const stub = env.DESTINATION.get(env.DESTINATION.idFromName(REMOTE));
    await stub.enqueue(REMOTE, [typing(1)]);
    const first = await until(() => ids[0]);

    await runInDurableObject(stub, async (_obj, state) => {
      // The same object restarted with its storage kept: the same prefix, so a retried transaction keeps its ID.
      const restarted = new Destination(state, env);
      await restarted.enqueue(REMOTE, [typing(2)]);
      const second = await until(() => ids[1]);
      expect(second.split(".")[0]).toBe(first.split(".")[0]);

      // Wiped: the queue starts from sequence 1 again, exactly as the first time, yet the ID is new.
      await state.storage.deleteAll();
      const wiped = new Destination(state, env);
      await wiped.enqueue(REMOTE, [typing(1)]);
      const third = await until(() => ids[2]);
      expect(third.slice(third.indexOf("."))).toBe(first.slice(first.indexOf(".")));
      expect(third).not.toBe(first);
      expect(third.split(".")[0]).not.toBe(first.split(".")[0]);
    });
    expect(first).toMatch(/^[0-9a-f]{16}\./);
  });
});
