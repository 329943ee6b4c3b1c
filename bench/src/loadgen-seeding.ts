// B4 in the load generator: seeding members through /send, then timed make_join/send_join.

import { makeLpdu, prepareTxn } from "./proto.js";
import type * as T from "./types.js";
import { now, sleep } from "./loadgen-common.js";
import { fake, requireHub } from "./loadgen-fakes.js";
import { sendWithRetry, retryAfter } from "./loadgen-closed-loop.js";

// ---------------------------------------------------------------------------------------------
// B4: seeding members through /send, then timed make_join/send_join
// ---------------------------------------------------------------------------------------------

export async function seedMembers(p: T.SeedParams): Promise<{ ms: number; failed: number }> {
  const h = requireHub();
  const t0 = now();
  let failed = 0;
  let made = 0;
  const perServer = Math.ceil(p.count / p.fakes.length);
  await Promise.all(
    p.fakes.map(async (name, si) => {
      const f = fake(name);
      const users: string[] = [];
      for (let u = 0; u < perServer && si * perServer + u < p.count; u++) users.push(`@r${p.round}m${u}:${name}`);
      for (let i = 0; i < users.length; i += 50) {
        const lpdus = users.slice(i, i + 50).map((user) =>
          makeLpdu(f.id, { room_id: p.roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: { membership: "join" } }, h.name),
        );
        const txn = prepareTxn(f.id, h.name, lpdus);
        for (;;) {
          const res = await sendWithRetry(h.http, txn, f.agent);
          const text = res.body.toString();
          if (res.status === 400 && text.includes("M_BAD_STATE")) {
            await sleep(50);
            continue;
          }
          // The hub's fan-out is behind (its joins go to every member's server): wait as asked.
          if (res.status === 429) {
            await sleep(retryAfter(res.body));
            continue;
          }
          if (res.status !== 200) throw new Error(`seeding members: HTTP ${res.status} ${text.slice(0, 300)}`);
          failed += Object.keys((JSON.parse(text) as { failed_pdus?: object }).failed_pdus ?? {}).length;
          break;
        }
        made += lpdus.length;
      }
    }),
  );
  if (made !== p.count) throw new Error(`seeded ${made} of ${p.count}`);
  return { ms: now() - t0, failed };
}
