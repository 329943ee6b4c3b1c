// Find internal address (MIMI -06 §5.8): POST {identifierQuery}/{domain}, body IdentifierRequest,
// answer IdentifierResponse. Sent provider to provider, never through a hub.

import type { IdentifierUri } from "./common.js";
import { readUri, writeUri } from "./common.js";
import { readAppDataDictionary, writeAppDataDictionary, type AppDataDictionary } from "./app-data.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

export const SEARCH_IDENTIFIER_TYPE = {
  handle: 1,
  nick: 2,
  email: 3,
  phone: 4,
  partialName: 5,
  wholeProfile: 6,
  oidcStdClaim: 7,
  vcardField: 8,
} as const;
export type SearchIdentifierType = keyof typeof SEARCH_IDENTIFIER_TYPE;

/** `select(type)` in -06 means searchType: a claim or vCard property name precedes the value. */
export type QueryElement =
  | { searchType: "oidcStdClaim"; claimName: Uint8Array; searchValue: string }
  | { searchType: "vcardField"; propertyName: Uint8Array; searchValue: string }
  | { searchType: Exclude<SearchIdentifierType, "oidcStdClaim" | "vcardField">; searchValue: string };

export interface IdentifierRequest {
  queryElements: QueryElement[];
  idRequestExtensions: AppDataDictionary;
}

function readQueryElement(r: Reader): QueryElement {
  const searchType = r.field("searchType", (x) => x.enumU8(SEARCH_IDENTIFIER_TYPE));
  if (searchType === "oidcStdClaim") {
    const claimName = r.field("claimName", (x) => x.opaque());
    return { searchType, claimName, searchValue: r.field("searchValue", (x) => x.utf8()) };
  }
  if (searchType === "vcardField") {
    const propertyName = r.field("propertyName", (x) => x.opaque());
    return { searchType, propertyName, searchValue: r.field("searchValue", (x) => x.utf8()) };
  }
  return { searchType, searchValue: r.field("searchValue", (x) => x.utf8()) };
}

function writeQueryElement(w: Writer, q: QueryElement): void {
  w.u8(SEARCH_IDENTIFIER_TYPE[q.searchType]);
  if (q.searchType === "oidcStdClaim") w.opaque(q.claimName);
  if (q.searchType === "vcardField") w.opaque(q.propertyName);
  w.utf8(q.searchValue);
}

export const encodeIdentifierRequest = (req: IdentifierRequest): Uint8Array =>
  encodeBody((w) => {
    w.vector(req.queryElements, writeQueryElement);
    writeAppDataDictionary(w, req.idRequestExtensions);
  });

export const decodeIdentifierRequest = (bytes: Uint8Array): Decoded<IdentifierRequest> =>
  decodeBody("IdentifierRequest", bytes, (r) => ({
    queryElements: r.field("query_elements", (x) => x.vector(readQueryElement)),
    idRequestExtensions: r.field("id_request_extensions", readAppDataDictionary),
  }));

export const IDENTIFIER_QUERY_CODE = { success: 0, notFound: 1, ambiguous: 2, forbidden: 3, unsupportedField: 4 } as const;
export type IdentifierQueryCode = keyof typeof IDENTIFIER_QUERY_CODE;

export const FIELD_SOURCE = { oidcStdClaim: 7, vcardField: 8 } as const;
export type FieldSource = keyof typeof FIELD_SOURCE;

export interface ProfileField {
  fieldSource: FieldSource;
  fieldName: string;
  fieldValue: Uint8Array;
}

export interface UserProfile {
  stableUri: IdentifierUri;
  fields: ProfileField[];
}

export interface IdentifierResponse {
  responseCode: IdentifierQueryCode;
  uri: IdentifierUri[];
  foundProfiles: UserProfile[];
  idResponseExtensions: AppDataDictionary;
}

const readProfile = (r: Reader): UserProfile => ({
  stableUri: r.field("stableUri", readUri),
  fields: r.field("fields", (x) =>
    x.vector((y) => ({
      fieldSource: y.field("fieldSource", (z) => z.enumU8(FIELD_SOURCE)),
      fieldName: y.field("fieldName", (z) => z.utf8()),
      fieldValue: y.field("fieldValue", (z) => z.opaque()),
    })),
  ),
});

export const encodeIdentifierResponse = (res: IdentifierResponse): Uint8Array =>
  encodeBody((w) => {
    w.u8(IDENTIFIER_QUERY_CODE[res.responseCode]);
    w.vector(res.uri, writeUri);
    w.vector(res.foundProfiles, (ww, p) => {
      writeUri(ww, p.stableUri);
      ww.vector(p.fields, (x, f) => x.u8(FIELD_SOURCE[f.fieldSource]).utf8(f.fieldName).opaque(f.fieldValue));
    });
    writeAppDataDictionary(w, res.idResponseExtensions);
  });

export const decodeIdentifierResponse = (bytes: Uint8Array): Decoded<IdentifierResponse> =>
  decodeBody("IdentifierResponse", bytes, (r) => ({
    responseCode: r.field("responseCode", (x) => x.enumU8(IDENTIFIER_QUERY_CODE)),
    uri: r.field("uri", (x) => x.vector(readUri)),
    foundProfiles: r.field("foundProfiles", (x) => x.vector(readProfile)),
    idResponseExtensions: r.field("id_response_extensions", readAppDataDictionary),
  }));
