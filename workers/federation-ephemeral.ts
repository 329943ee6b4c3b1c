// The typing, receipt and presence EDUs of an admitted /send transaction. Typing and receipts go to
// their room, which accepts them only from a joined user of the sending server; presence is
// accepted and not yet used. Nothing here fails the transaction.

import { parseEphemeralEdu } from "../shared/receipts-typing.js";

export async function handleEphemeralEdus(env: Env, origin: string, edus: unknown[]): Promise<void> {
  const now = Date.now();
  const work: Array<Promise<void>> = [];
  for (const raw of edus) {
    for (const edu of parseEphemeralEdu(raw, now) ?? []) {
      if (edu.kind === "presence") continue;
      const room = env.ROOM.get(env.ROOM.idFromName(edu.roomId));
      const done = edu.kind === "typing" ? room.setTyping(edu.userId, edu.typing, undefined, origin) : room.setReceipt(edu.receipt, origin);
      work.push(done.catch((e: unknown) => console.error(`${edu.kind} EDU from ${origin} not applied`, e instanceof Error ? e.message : e)));
    }
  }
  await Promise.all(work);
}
