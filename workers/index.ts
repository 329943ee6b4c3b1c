// Worker entry: exports the Durable Object classes and routes requests.

import { buildRouter, mountKeys } from "./app.js";
import { mountClientAccounts } from "./client-accounts.js";

export { Room } from "../durable-objects/room.js";
export { RateLimiter } from "../durable-objects/rate-limiter.js";

const router = buildRouter([mountKeys, mountClientAccounts]);

export default {
  fetch: (req, env, ctx) => router.fetch(req as never, env, ctx),
} satisfies ExportedHandler<Env>;
