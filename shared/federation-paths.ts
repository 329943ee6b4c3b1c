// Path prefixes of the federation API (PROTOCOL-NOTES: the draft's v2/v3 endpoints live under the
// LM unstable prefix while the draft is a draft).
export const LM_PREFIX = "/_matrix/federation/unstable/org.matrix.i-d.ralston-mimi-linearized-matrix.02";
export const FEDERATION_V1 = "/_matrix/federation/v1";
export const FEDERATION_V2 = "/_matrix/federation/v2";
export const FEDERATION_V3 = "/_matrix/federation/v3";
