// Path prefixes of the federation API. While the LM draft is a draft, its endpoints (send, invite,
// send_join, backfill, event, device) live under an unstable prefix named after the draft's room
// version identifier; the Matrix-style aliases stay under v1/v2/v3 (docs/architecture.md, "Federation paths").
export const LM_PREFIX = "/_matrix/federation/unstable/org.matrix.i-d.ralston-mimi-linearized-matrix.02";
export const FEDERATION_V1 = "/_matrix/federation/v1";
export const FEDERATION_V2 = "/_matrix/federation/v2";
export const FEDERATION_V3 = "/_matrix/federation/v3";
