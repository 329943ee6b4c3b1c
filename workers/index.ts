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
import { mountMimi } from "./mimi.js";
import { mountMimiClient } from "./mimi-client.js";
import { mountAdminMimiPeers } from "./admin-mimi-peers.js";
import { mountMimiDirectory } from "./mimi-directory.js";
import { mountMimiWelcomeRelay } from "./mimi-welcome-relay.js";
import { mountMediaUpload } from "./media-upload.js";
import { mountMediaDownload } from "./media-download.js";
import { mountMediaFederation } from "./media-federation.js";
import { mountClientPushRules } from "./client-push-rules.js";
import { mountClientDevices } from "./client-devices.js";
import { mountClientPushers } from "./client-pushers.js";
import { mountClientCrossSigning } from "./client-cross-signing.js";
import { mountClientKeyBackup } from "./client-key-backup.js";
import { mountClientRelations } from "./client-relations.js";
import { mountClientPresence } from "./client-presence.js";
import { mountClientPublicRooms } from "./client-public-rooms.js";
import { mountClientUserDirectory } from "./client-user-directory.js";
import { mountClientHierarchy } from "./client-hierarchy.js";
import { mountConverterPairing } from "./converter-pairing.js";
import { mountConverterSecond } from "./converter-second.js";

export { Room } from "../durable-objects/room.js";
export { Destination } from "../durable-objects/destination.js";
export { Inbox } from "../durable-objects/inbox.js";
export { UserStream } from "../durable-objects/user-stream.js";
export { RateLimiter } from "../durable-objects/rate-limiter.js";
export { Outbound } from "./outbound.js";

const router = buildRouter([mountKeys, mountKeyQueries, mountFederation, mountClientAccounts, mountClientRooms, mountClientSync, mountClientMisc, mountClientProfile, mountClientDirectory, mountFederationKeys, mountClientKeys, mountClientToDevice, mountAdmin, mountMimi, mountMimiClient, mountAdminMimiPeers, mountMimiDirectory, mountMediaUpload, mountMediaDownload, mountMediaFederation, mountClientPushRules, mountClientDevices, mountClientPushers, mountClientCrossSigning, mountClientKeyBackup, mountClientRelations, mountClientPresence, mountClientPublicRooms, mountClientUserDirectory, mountClientHierarchy, mountConverterPairing, mountConverterSecond, mountMimiWelcomeRelay]);

export default {
  fetch: (req, env, ctx) => router.fetch(req as never, env, ctx),
} satisfies ExportedHandler<Env>;
