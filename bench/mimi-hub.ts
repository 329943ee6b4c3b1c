// MIMI hub benchmark (issue 17): what the hub spends per submitMessage and per update, beside the LM
// path's m.room.encrypted and m.mls.commit in the same room and run. `npm run bench` (and bench:quick)
// runs it after the MLS benchmark; alone: `node bench/build.mjs && node bench/.build/mimi-hub.mjs
// [--quick]`. bench/mimi-hub.md has the method and the figures.
//
// One Switchboard hub on bare Miniflare; this process plays the MIMI follower provider (it answers the
// hub's device lookups and notify) and drives both paths with real ts-mls clients: alice, a local user
// of the hub, through the client API (the LM path), and bob, the follower's user, through the MIMI
// endpoints. Latency is the request's round trip; CPU is workerd's /proc time over a batch, from quiet
// to quiet, divided by the batch's requests.

import { createServer, type Server } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import type { JsonObject } from "../shared/canonical-json.js";
import { canonicalJson } from "../shared/canonical-json.js";
import { decodeBase64 } from "../shared/base64.js";
import { mlsCredentialKey } from "../shared/device-keys.js";
import { MLS_DEFAULT_ALGORITHM } from "../shared/mls-algorithm.js";
import { userUriOf } from "../shared/mimi-identifiers.js";
import { decodeMlsMessageField, decodeSubmitMessageResponse, decodeUpdateRoomResponse, encodeSubmitMessageRequest, encodeUpdateRequest, decodeGroupInfoField } from "../shared/mimi/index.js";
import { generateSeed, signingKeyFromSeed } from "../shared/signing-key.js";
import { MLS_ALGORITHM, signAs } from "../test/support/e2ee-keys.js";
import { MlsDevice, type PendingCommit } from "../test/support/mls-client.js";
import { installHubAsExternalSender } from "../test/support/mimi-hub-install.js";
import { httpJson, httpRequest, target, type HttpTarget } from "./src/http.js";
import { waitQuiet } from "./src/proc.js";
import { ADMIN_TOKEN, freePort, ROOT, startServer, NO_LIMITS, type BenchServer } from "./src/servers.js";
import { r2, summarize, type LatencySummary } from "./src/stats.js";

const QUICK = process.argv.includes("--quick");
const SAMPLES = QUICK ? 10 : 40;
const WARMUP = 5;
const HUB = "hub.mimi.bench.test";
const FOLLOWER = "follower.mimi.bench.test";
const C = "/_matrix/client/v3";
const MIMI = "/mimi/v1";
/** The loopback stand-in for mutual TLS (SECURITY.md): the hub maps this fingerprint to the follower. */
const FP = "b".repeat(64);
const STAND_IN_HEADER = "x-switchboard-mimi-stand-in-fingerprint";

let hub: HttpTarget;
let txn = 0;
const started = Date.now();
const log = (line: string): void => console.log(`[bench mimi ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);

interface Member {
  userId: string;
  mls: MlsDevice;
  deviceKeys: JsonObject;
  token?: string;
}

async function device(userId: string): Promise<Member> {
  const seed = generateSeed();
  const key = await signingKeyFromSeed(seed, "D");
  const mls = await MlsDevice.create(userId, "D", { signKey: seed, publicKey: key.publicKey });
  const cred = mlsCredentialKey({ userId, deviceId: "D", signatureKey: key.publicKey });
  const deviceKeys = await signAs({ user_id: userId, device_id: "D", algorithms: [MLS_ALGORITHM], keys: { [cred.keyId]: cred.value } }, userId, [{ keyId: cred.keyId, sign: (b: Uint8Array) => key.sign(b) }]);
  return { userId, mls, deviceKeys };
}

/** The follower provider, played here: device lookups for its user, and notify (201, dropped). */
async function startFollower(bob: Member): Promise<{ server: Server; port: number; notifies: () => number }> {
  let notifies = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (req.method === "POST" && path.startsWith(`${MIMI}/notify/`)) {
        notifies++;
        return res.writeHead(201).end();
      }
      if (req.method === "POST" && path === "/_matrix/federation/v1/user/keys/query") {
        return res.writeHead(200, { "content-type": "application/json" }).end(canonicalJson({ device_keys: { [bob.userId]: { D: bob.deviceKeys } } }));
      }
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED","error":"bench follower"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, notifies: () => notifies };
}

const auth = (m: Member): Record<string, string> => ({ authorization: `Bearer ${m.token ?? ""}` });

async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function lmSend(alice: Member, roomId: string, type: string, content: unknown): Promise<string> {
  return (await httpJson<{ event_id: string }>(hub, "PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/${type}/b${txn++}`, { headers: auth(alice), body: JSON.stringify(content) })).event_id;
}

async function mimiPost(endpoint: string, roomId: string, body: Uint8Array): Promise<Uint8Array> {
  const res = await httpRequest(hub, "POST", `${MIMI}/${endpoint}/${encodeURIComponent(roomId)}`, {
    headers: { "content-type": "application/octet-stream", [STAND_IN_HEADER]: FP },
    body: Buffer.from(body),
  });
  if (res.status !== 200) throw new Error(`${endpoint}: HTTP ${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
  return new Uint8Array(res.body);
}

interface Row {
  path: string;
  bytes: number;
  latency: LatencySummary;
  cpuMsPerRequest: number;
  samplesMs: number[];
}

async function batch(server: BenchServer, path: string, n: number, one: () => Promise<{ ms: number; bytes: number }>): Promise<Row> {
  await waitQuiet(server.pid, { maxMs: 20_000 });
  const cpu0 = server.proc().cpuMs;
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = await one();
    samples.push(r2(r.ms));
    bytes = r.bytes;
  }
  await waitQuiet(server.pid, { maxMs: 20_000 });
  return { path, bytes, latency: summarize(samples), cpuMsPerRequest: r2((server.proc().cpuMs - cpu0) / n), samplesMs: samples };
}

async function main(): Promise<void> {
  const bob = await device(`@bob:${FOLLOWER}`);
  const follower = await startFollower(bob);
  const port = await freePort();
  const server = await startServer({ name: HUB, port, hostMap: { [FOLLOWER]: `http://127.0.0.1:${follower.port}` }, bindings: { RATE_LIMITS: NO_LIMITS, MIMI_LOCAL_STAND_IN_FINGERPRINT: FP } });
  hub = target(server.url);
  try {
    log(`mode ${QUICK ? "quick" : "full"}; hub ${HUB} on :${port} (workerd pid ${server.pid}); follower ${FOLLOWER} played by this process`);
    await httpJson(hub, "PUT", `/_switchboard/admin/v1/mimi/peers/${FP}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ domain: FOLLOWER }) });
    const reg = await httpJson<{ user_id: string; access_token: string }>(hub, "POST", `${C}/register`, { body: JSON.stringify({ username: "alice", password: "pw", device_id: "D", auth: { type: "m.login.dummy" } }) });
    const alice: Member = { ...(await device(reg.user_id)), token: reg.access_token };
    await httpJson(hub, "POST", `${C}/keys/upload`, { headers: auth(alice), body: JSON.stringify({ device_keys: alice.deviceKeys }) });
    const { room_id: roomId } = await httpJson<{ room_id: string }>(hub, "POST", `${C}/createRoom`, { headers: auth(alice), body: JSON.stringify({ creation_content: { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } } }) });
    // A room takes MIMI participants only once its group has installed the hub as external sender.
    await alice.mls.createGroup(roomId);
    const mimiRoom = `/_matrix/client/unstable/org.switchboard.mimi/rooms/${encodeURIComponent(roomId)}`;
    const externalSender = () => httpJson<{ external_sender: string; installed: boolean; pending_proposals: string[] }>(hub, "GET", `${mimiRoom}/external_sender`, { headers: auth(alice) });
    const sendCommit = async (p: PendingCommit): Promise<string> => {
      const id = await lmSend(alice, roomId, "m.mls.commit", { message: p.message, group_info: await alice.mls.groupInfoAfter(p) });
      alice.mls.confirm(p);
      return id;
    };
    const installed = await installHubAsExternalSender({ mls: alice.mls, externalSender, sendCommit });
    let lastCommit = installed.commitEventId;
    await httpJson(hub, "POST", `${mimiRoom}/participants`, { headers: auth(alice), body: JSON.stringify({ user_id: bob.userId }) });
    for (const p of (await externalSender()).pending_proposals) if (!installed.proposals.includes(p)) await alice.mls.processProposal(p);
    const add = await alice.mls.commit({ add: [await bob.mls.keyPackage()] });
    lastCommit = await lmSend(alice, roomId, "m.mls.commit", { message: add.message, group_info: await alice.mls.groupInfoAfter(add) });
    alice.mls.confirm(add);
    await bob.mls.join(add.welcome as string);
    log(`room ${roomId}: alice (LM client API) and bob (MIMI follower) in one MLS group at epoch ${alice.mls.epoch}`);

    const lmMessage = async (): Promise<{ ms: number; bytes: number }> => {
      const ciphertext = await alice.mls.encrypt("x".repeat(100));
      const content = { algorithm: MLS_DEFAULT_ALGORITHM, ciphertext, commit_event_id: lastCommit };
      return { ms: await timed(async () => void (await lmSend(alice, roomId, "m.room.encrypted", content))), bytes: JSON.stringify(content).length };
    };
    const mimiMessage = async (): Promise<{ ms: number; bytes: number }> => {
      const m = decodeMlsMessageField(decodeBase64(await bob.mls.encrypt("x".repeat(100))));
      if (!m.ok) throw new Error("not an MLS message");
      const body = encodeSubmitMessageRequest({ protocol: "mls10", appMessage: m.value, sendingUri: userUriOf(bob.userId) });
      const ms = await timed(async () => {
        const res = decodeSubmitMessageResponse(await mimiPost("submitMessage", roomId, body));
        if (!res.ok || res.value.statusCode !== "accepted") throw new Error(`submitMessage refused: ${JSON.stringify(res)}`);
      });
      return { ms, bytes: body.length };
    };
    // Each commit is an empty one (a new UpdatePath); the other member applies it outside the timing.
    const lmCommit = async (): Promise<{ ms: number; bytes: number }> => {
      const pending = await alice.mls.commit();
      // With the new epoch's GroupInfo, as every commit in a room with MIMI followers must carry.
      const content = { message: pending.message, group_info: await alice.mls.groupInfoAfter(pending) };
      const ms = await timed(async () => void (lastCommit = await lmSend(alice, roomId, "m.mls.commit", content)));
      alice.mls.confirm(pending);
      await bob.mls.processCommit(pending.message);
      return { ms, bytes: JSON.stringify(content).length };
    };
    const mimiCommit = async (): Promise<{ ms: number; bytes: number }> => {
      const pending: PendingCommit = await bob.mls.commit();
      const message = decodeMlsMessageField(decodeBase64(pending.message));
      const groupInfo = decodeGroupInfoField(decodeBase64(await bob.mls.groupInfoAfter(pending)));
      if (!message.ok || !groupInfo.ok) throw new Error("bad commit");
      const body = encodeUpdateRequest({ kind: "commit", proposalOrCommit: message.value, groupInfoOption: { representation: "full", groupInfo: groupInfo.value }, ratchetTreeOption: { representation: "distributionService" } });
      const ms = await timed(async () => {
        const res = decodeUpdateRoomResponse(await mimiPost("update", roomId, body));
        if (!res.ok || res.value.responseCode !== "success") throw new Error(`update refused: ${JSON.stringify(res)}`);
      });
      bob.mls.confirm(pending);
      await alice.mls.processCommit(pending.message);
      const events = await httpJson<{ chunk: Array<{ event_id: string; content: { message?: string } }> }>(hub, "GET", `${C}/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1`, { headers: auth(alice) });
      lastCommit = events.chunk[0]?.event_id ?? lastCommit;
      return { ms, bytes: body.length };
    };
    for (let i = 0; i < WARMUP; i++) for (const f of [lmMessage, mimiMessage, lmCommit, mimiCommit]) await f();

    const rows = [
      await batch(server, "LM m.room.encrypted (client API)", SAMPLES, lmMessage),
      await batch(server, "MIMI submitMessage", SAMPLES, mimiMessage),
      await batch(server, "LM m.mls.commit (client API)", SAMPLES, lmCommit),
      await batch(server, "MIMI update", SAMPLES, mimiCommit),
    ];
    const out = {
      mode: QUICK ? "quick" : "full",
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memGiB: r2(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg().map(r2) },
      notifiesDelivered: follower.notifies(),
      rows,
      durationS: Math.round((Date.now() - started) / 1000),
    };
    const dir = QUICK ? join(ROOT, "bench", ".build", "results") : join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `mimi-latest-${out.mode}.json`);
    writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
    console.log(["", "| path | body bytes | p50 ms | p90 ms | CPU ms/request |", "|---|---:|---:|---:|---:|", ...rows.map((r) => `| ${r.path} | ${r.bytes} | ${r.latency.p50} | ${r.latency.p90} | ${r.cpuMsPerRequest} |`), ""].join("\n"));
    log(`done in ${out.durationS} s (${out.notifiesDelivered} notifies delivered to the follower); results in ${relative(ROOT, file)}`);
  } finally {
    await server.dispose();
    follower.server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
