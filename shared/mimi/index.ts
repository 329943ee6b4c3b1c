// The MIMI wire codec (draft-ietf-mimi-protocol-06): every body as typed values, decoders that answer
// a typed error instead of throwing. See docs/mimi.md for the readings chosen where the draft is unclear.

export * from "./tls-codec.js";
export * from "./common.js";
export * from "./mls-fields.js";
export * from "./app-data.js";
export * from "./frank.js";
export * from "./ratchet-tree-option.js";
export * from "./key-material.js";
export * from "./update.js";
export * from "./submit-message.js";
export * from "./notify.js";
export * from "./group-info.js";
export * from "./participant-list.js";
export * from "./directory.js";
export * from "./consent.js";
export * from "./identifier-query.js";
export * from "./report-abuse.js";
export * from "./room-metadata.js";
export * from "./pseudonymous-credential.js";
