// Which MIMI provider sent a request: the domain its verified client certificate is mapped to in
// mimi_peers (workers/mimi-peer-auth.ts; SECURITY.md "MIMI provider authentication").

import { authenticateMimiPeer } from "./mimi-peer-auth.js";

/** The authenticated provider of an inbound MIMI request; 401/403 when there is none. */
export async function requestingProvider(req: Request, env: Env): Promise<string> {
  return (await authenticateMimiPeer(req, env)).domain;
}
