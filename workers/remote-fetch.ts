// Fetching from other servers with a deadline and a size cap. A remote peer controls timing and body
// size, so neither may be unbounded; the deadline covers the body too, not just the headers.

import { isEncoded } from "./http.js";

export class RemoteFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemoteFetchError";
  }
}

export interface RemoteResponse {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

/**
 * Fetches `url` and reads at most `maxBytes` of its body within `timeoutMs`. Throws RemoteFetchError
 * on timeout, network failure or an oversized body. `fetch` is looked up per call so tests can stub it.
 */
export async function fetchBounded(url: string, init: RequestInit, timeoutMs: number, maxBytes: number): Promise<RemoteResponse> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new RemoteFetchError(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const work = (async () => {
    let res: Response;
    try {
      res = await globalThis.fetch(url, { ...init, signal: controller.signal });
    } catch (err) {
      throw new RemoteFetchError(`network error: ${err instanceof Error ? err.message : String(err)}`);
    }
    const bytes = await readLimited(res, maxBytes, controller);
    return { status: res.status, headers: res.headers, bytes };
  })();
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined); // the loser of the race must not surface as an unhandled rejection
  }
}

async function readLimited(res: Response, maxBytes: number, controller: AbortController): Promise<Uint8Array> {
  const declared = res.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    controller.abort();
    throw new RemoteFetchError(`response larger than ${maxBytes} bytes`);
  }
  if (!res.body) return new Uint8Array(0);
  // A declared, uncompressed length bounds what arrives: read it in one native call.
  if (declared !== null && !isEncoded(res.headers)) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw new RemoteFetchError(`error reading response: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (bytes.byteLength > maxBytes) throw new RemoteFetchError(`response larger than ${maxBytes} bytes`);
    return bytes;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new RemoteFetchError(`response larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof RemoteFetchError) throw err;
    throw new RemoteFetchError(`error reading response: ${err instanceof Error ? err.message : String(err)}`);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** UTF-8 text of a body, or undefined when the bytes are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
