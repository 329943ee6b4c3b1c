// The converter's record of which event in a room is its copy of a paired room's MLS commit: kept
// when the dedup keys around it are pruned, because messages name an epoch's commit for as long as
// the epoch lasts, which can be longer than the dedup window.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ConverterStorage } from "../../durable-objects/room-converter-storage.js";
import { rememberCommitCopy } from "../../durable-objects/room/converter-mls.js";

describe("the converter's commit copies", () => {
  it("survive pruning of the dedup keys remembered at the same time, which go", async () => {
    const stub = env.ROOM.get(env.ROOM.idFromName(`commit-copies-${Date.now()}`));
    await runInDurableObject(stub, (_room, state) => {
      const store = new ConverterStorage(state.storage);
      const count = () => state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM dedup_keys`).one().n;
      store.putKey("ct:abc", "$copy-of-message", Date.now());
      store.putKey("ct:def", "$copy-of-commit", Date.now());
      rememberCommitCopy(store, "m.mls.commit", "!lm:hub.test", "$commit", "$copy-of-commit");
      expect(count()).toBe(3);
      expect(store.pruneKeysBefore(Date.now() + 1)).toBe(2);
      expect(count()).toBe(1);
      expect(store.eventWithKey("ct:abc")).toBeUndefined();
      expect(store.eventWithKey("mls-commit:!lm:hub.test $commit")).toBe("$copy-of-commit");
    });
  });
});
