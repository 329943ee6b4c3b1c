// Worker entry: exports the Durable Object classes and routes requests.

import { buildRouter, mountKeys } from "./app.js";

export { Room } from "../durable-objects/room.js";
export { RateLimiter } from "../durable-objects/rate-limiter.js";

const router = buildRouter([mountKeys]);

export default {
  fetch: (req, env, ctx) => router.fetch(req as never, env, ctx),
} satisfies ExportedHandler<Env>;
