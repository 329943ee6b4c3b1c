// Worker entry: exports the Durable Object classes and routes requests.

import { buildRouter, mountKeys } from "./app.js";
import { mountKeyQueries } from "./key-routes.js";
import { mountClientAccounts } from "./client-accounts.js";
import { mountClientRooms } from "./client-rooms.js";
import { mountClientSync } from "./client-sync.js";
import { mountClientMisc } from "./client-misc.js";
import { mountClientProfile } from "./client-profile.js";
import { mountClientDirectory } from "./client-directory.js";
import { mountFederation } from "./federation.js";
import { mountFederationKeys } from "./federation-keys.js";
import { mountClientKeys } from "./client-keys.js";
import { mountClientToDevice } from "./client-to-device.js";
import { mountAdmin } from "./admin.js";
import { mountConverterPairing } from "./converter-pairing.js";

export { Room } from "../durable-objects/room.js";
export { Destination } from "../durable-objects/destination.js";
export { Inbox } from "../durable-objects/inbox.js";
export { UserStream } from "../durable-objects/user-stream.js";
export { RateLimiter } from "../durable-objects/rate-limiter.js";
export { Outbound } from "./outbound.js";

const router = buildRouter([mountKeys, mountKeyQueries, mountFederation, mountClientAccounts, mountClientRooms, mountClientSync, mountClientMisc, mountClientProfile, mountClientDirectory, mountFederationKeys, mountClientKeys, mountClientToDevice, mountAdmin, mountConverterPairing]);

export default {
  fetch: (req, env, ctx) => router.fetch(req as never, env, ctx),
} satisfies ExportedHandler<Env>;
