// MLS benchmark (issue 7): what it costs the hub to accept an `m.mls.commit` in groups of 10, 100 and
// 1,000 members, and how /keys/claim answers under concurrent claims. `npm run bench` (and bench:quick)
// runs it after the B1..B6 suite; alone: `node bench/build.mjs && node bench/.build/mls-commit.mjs
// [--quick]`. bench/mls-commit.md has the method and the figures.
//
// Everything is measured from outside, over loopback HTTP against a Switchboard on bare Miniflare (the
// bundle wrangler builds for deployment), with real ts-mls clients. The group's creator is a local user
// of the hub; every other member is a user of a simulated remote server played by this process (its own
// signing key, key document, signed LPDUs, and the device credentials it serves on user/keys/query), so
// the hub's work per event is the room's, not the fan-out to a thousand local /sync streams.
//
// For each group size the creator sends commits that each add one device (about the same message size
// whatever the group size) and, as the baseline measured in the same room and run, plain m.room.message
// events of the same byte size: the difference is the MLS work (decoding the commit, the roster rules,
// the device lookup over federation, the roster delta). In the 1,000-member group, commits adding 10 and
// 50 devices show how the cost follows the message's size. CPU per event is workerd's /proc time over a
// batch, including the work the batch leaves behind, divided by the batch's events.

import { createServer, type Server } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import type { JsonObject } from "../shared/canonical-json.js";
import { canonicalJson } from "../shared/canonical-json.js";
import { mlsCredentialKey } from "../shared/device-keys.js";
import { MLS_DEFAULT_ALGORITHM } from "../shared/mls-algorithm.js";
import { generateSeed, signingKeyFromSeed } from "../shared/signing-key.js";
import { MLS_ALGORITHM, MLS_KEY_PACKAGE_ALGORITHM, signAs } from "../test/support/e2ee-keys.js";
import { MlsDevice } from "../test/support/mls-client.js";
import { httpJson, httpRequest, newAgent, target, type HttpTarget } from "./src/http.js";
import { waitQuiet } from "./src/proc.js";
import { authHeader, keyDocument, LM_PREFIX, LM_VERSION, makeLpdu, newIdentity, prepareTxn, type Identity } from "./src/proto.js";
import { freePort, ROOT, startServer, type BenchServer } from "./src/servers.js";
import { r2, summarize } from "./src/stats.js";
import { table, type ClaimLevel, type Row } from "./mls-commit-report.js";

const QUICK = process.argv.includes("--quick");
// Quick keeps `npm run bench:quick` within its two minutes: small groups only, a handful of samples.
const CFG = QUICK
  ? { sizes: [10, 100], samples: 5, bigAdds: [] as number[], bigReps: 0, claimLevels: [1, 10, 50], claimsPerLevel: 50 }
  : { sizes: [10, 100, 1_000], samples: 20, bigAdds: [10, 50], bigReps: 5, claimLevels: [1, 10, 50], claimsPerLevel: 200 };
/** Devices per adding commit while the groups are built: ~25 KB messages, well inside the 64 KiB event cap. */
const BUILD_BATCH = 50;
/** Commits and plain events sent before the first measured batch (in the smallest group, where commits are small). */
const WARMUP = 5;
const HUB = "hub.mls.bench.test";
const MEMBERS_SERVER = "members.mls.bench.test";
const C = "/_matrix/client/v3";
const NO_LIMITS = JSON.stringify({
  token: { capacity: 1e9, refillPerSecond: 1e9 },
  user: { capacity: 1e9, refillPerSecond: 1e9 },
  serverPdus: { capacity: 1e9, refillPerSecond: 1e9 },
  serverRequests: { capacity: 1e9, refillPerSecond: 1e9 },
});

const started = Date.now();
function log(line: string): void {
  console.log(`[bench mls ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
}

/** A user with one MLS device "D": the creator and claim users are local, the members remote. */
interface Member {
  userId: string;
  mls: MlsDevice;
  /** The draft's device credential object, signed by the device's MLS key. */
  deviceKeys: JsonObject;
  /** Local users only. */
  token?: string;
}

let hubTarget: HttpTarget;
let txn = 0;

function auth(token: string | undefined): Record<string, string> {
  if (token === undefined) throw new Error("not a local user");
  return { authorization: `Bearer ${token}` };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, f: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T, i);
    }),
  );
  return out;
}

async function device(userId: string): Promise<Member> {
  const seed = generateSeed();
  const key = await signingKeyFromSeed(seed, "D");
  const mls = await MlsDevice.create(userId, "D", { signKey: seed, publicKey: key.publicKey });
  const cred = mlsCredentialKey({ userId, deviceId: "D", signatureKey: key.publicKey });
  const deviceKeys = await signAs({ user_id: userId, device_id: "D", algorithms: [MLS_ALGORITHM], keys: { [cred.keyId]: cred.value } }, userId, [
    { keyId: cred.keyId, sign: (b: Uint8Array) => key.sign(b) },
  ]);
  return { userId, mls, deviceKeys };
}

async function registerLocal(name: string): Promise<Member> {
  const body = JSON.stringify({ username: name, password: "pw", device_id: "D", auth: { type: "m.login.dummy" } });
  const r = await httpJson<{ user_id: string; access_token: string }>(hubTarget, "POST", `${C}/register`, { body });
  const m = { ...(await device(r.user_id)), token: r.access_token };
  await httpJson(hubTarget, "POST", `${C}/keys/upload`, { headers: auth(m.token), body: JSON.stringify({ device_keys: m.deviceKeys }) });
  return m;
}

// ---------------------------------------------------------------------------------------------
// The members' server, played by this process
// ---------------------------------------------------------------------------------------------

interface MembersServer {
  id: Identity;
  server: Server;
  port: number;
  devices: Map<string, JsonObject>;
}

async function startMembersServer(): Promise<MembersServer> {
  const id = newIdentity(MEMBERS_SERVER);
  const doc = keyDocument(id, Date.now());
  const devices = new Map<string, JsonObject>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      const reply = (status: number, body: string) => res.writeHead(status, { "content-type": "application/json" }).end(body);
      if (req.method === "GET" && path === "/_matrix/key/v2/server") return reply(200, doc);
      // The hub's fan-out of the room's events: taken and dropped.
      if (req.method === "PUT" && path.includes("/send/")) return reply(200, '{"pdus":{}}');
      if (req.method === "POST" && path === "/_matrix/federation/v1/user/keys/query") {
        const asked = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { device_keys?: Record<string, string[]> }).device_keys ?? {};
        const answer: Record<string, Record<string, JsonObject>> = {};
        for (const userId of Object.keys(asked)) {
          const d = devices.get(userId);
          answer[userId] = d ? { D: d } : {};
        }
        return reply(200, canonicalJson({ device_keys: answer }));
      }
      reply(404, '{"errcode":"M_UNRECOGNIZED","error":"bench members server"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { id, server, port: (server.address() as AddressInfo).port, devices };
}

const fedAgent = newAgent(4);

async function federation(ms: MembersServer, method: string, path: string, body?: unknown): Promise<string> {
  const res = await httpRequest(hubTarget, method, path, {
    headers: { authorization: authHeader(ms.id, HUB, method, path, body) },
    ...(body === undefined ? {} : { body: canonicalJson(body) }),
    agent: fedAgent,
  });
  const text = res.body.toString("utf8");
  if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text;
}

/** Joins remote members: the first through make_join/send_join, the others by LPDUs over /send, 50 per transaction. */
async function joinRemote(ms: MembersServer, roomId: string, users: readonly Member[]): Promise<void> {
  const [first, ...rest] = users;
  if (!first) return;
  const enc = encodeURIComponent;
  await federation(ms, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(first.userId)}?ver=${enc(LM_VERSION)}`);
  const join = (user: string) => makeLpdu(ms.id, { room_id: roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: { membership: "join" } }, HUB);
  await federation(ms, "POST", `${LM_PREFIX}/send_join/${enc(`j${Date.now()}`)}`, join(first.userId));
  for (let i = 0; i < rest.length; i += 50) {
    const t = prepareTxn(ms.id, HUB, rest.slice(i, i + 50).map((m) => join(m.userId)));
    for (;;) {
      const res = await httpRequest(hubTarget, "PUT", t.path, { headers: { authorization: t.authorization }, body: t.body, agent: fedAgent });
      const text = res.body.toString("utf8");
      if (res.status === 400 && text.includes("M_BAD_STATE")) {
        await new Promise((r) => setTimeout(r, 50)); // the previous transaction is still being processed
        continue;
      }
      if (res.status === 429) {
        // The hub's fan-out is behind: wait as asked, then the same transaction again.
        const wait = (JSON.parse(text) as { retry_after_ms?: number }).retry_after_ms ?? 100;
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      if (res.status !== 200) throw new Error(`joining members: HTTP ${res.status} ${text.slice(0, 300)}`);
      const failed = Object.keys((JSON.parse(text) as { failed_pdus?: object }).failed_pdus ?? {});
      if (failed.length > 0) throw new Error(`joining members: ${failed.length} refused: ${text.slice(0, 300)}`);
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

async function send(m: Member, roomId: string, type: string, content: unknown): Promise<{ ms: number; bytes: number; eventId: string }> {
  const body = JSON.stringify(content);
  const t0 = performance.now();
  const res = await httpRequest(hubTarget, "PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/${type}/b${txn++}`, { headers: auth(m.token), body });
  const ms = performance.now() - t0;
  const text = res.body.toString("utf8");
  if (res.status !== 200) throw new Error(`send ${type}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return { ms, bytes: Buffer.byteLength(body), eventId: (JSON.parse(text) as { event_id: string }).event_id };
}

async function commit(creator: Member, roomId: string, add: Member[]): Promise<{ ms: number; bytes: number }> {
  const kps = await Promise.all(add.map((m) => m.mls.keyPackage()));
  const pending = await creator.mls.commit({ add: kps });
  const r = await send(creator, roomId, "m.mls.commit", { message: pending.message });
  creator.mls.confirm(pending);
  return r;
}

/** A plain message whose JSON body has exactly `bytes` bytes, the baseline for a commit of that size. */
function plainOfSize(bytes: number): Record<string, string> {
  const empty = JSON.stringify({ msgtype: "m.text", body: "" }).length;
  return { msgtype: "m.text", body: "x".repeat(Math.max(0, bytes - empty)) };
}

/** Runs `n` sends one after another; returns their samples and workerd CPU per send, trailing work included. */
async function batch(hub: BenchServer, n: number, one: () => Promise<{ ms: number; bytes: number }>): Promise<{ samples: number[]; bytes: number; cpuMsPerEvent: number }> {
  await waitQuiet(hub.pid, { maxMs: 20_000 });
  const cpu0 = hub.proc().cpuMs;
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = await one();
    samples.push(r.ms);
    bytes = r.bytes;
  }
  await waitQuiet(hub.pid, { maxMs: 20_000 });
  return { samples, bytes, cpuMsPerEvent: r2((hub.proc().cpuMs - cpu0) / n) };
}

async function measure(hub: BenchServer, members: number, roomId: string, creator: Member, extras: Member[], addsPerCommit: number, reps: number): Promise<Row> {
  const groups = Array.from({ length: reps }, () => extras.splice(0, addsPerCommit));
  let g = 0;
  const commits = await batch(hub, reps, () => commit(creator, roomId, groups[g++] as Member[]));
  const plain = await batch(hub, reps, () => send(creator, roomId, "m.room.message", plainOfSize(commits.bytes)));
  const row: Row = {
    members,
    kind: addsPerCommit === 1 ? "commit adding 1 device" : `commit adding ${addsPerCommit} devices`,
    addsPerCommit,
    bytes: commits.bytes,
    latency: summarize(commits.samples),
    cpuMsPerEvent: commits.cpuMsPerEvent,
    samplesMs: commits.samples.map(r2),
    baseline: { bytes: plain.bytes, latency: summarize(plain.samples), cpuMsPerEvent: plain.cpuMsPerEvent, samplesMs: plain.samples.map(r2) },
  };
  log(
    `  ${members} members, ${row.kind}: ${row.bytes} B, p50 ${row.latency.p50} ms (plain event of the same size ${row.baseline.latency.p50} ms), ` +
      `CPU ${row.cpuMsPerEvent} ms/event (plain ${row.baseline.cpuMsPerEvent})`,
  );
  return row;
}

/** Concurrent /keys/claim of one device's KeyPackages: latency, and that no KeyPackage is handed out twice. */
async function claims(owner: Member, claimer: Member): Promise<ClaimLevel[]> {
  const total = CFG.claimLevels.length * CFG.claimsPerLevel;
  for (let uploaded = 0; uploaded < total; ) {
    const n = Math.min(200, total - uploaded);
    const oneTime: Record<string, string> = {};
    for (let i = 0; i < n; i++) oneTime[`${MLS_KEY_PACKAGE_ALGORITHM}:c${uploaded + i}`] = await owner.mls.keyPackage();
    await httpJson(hubTarget, "POST", `${C}/keys/upload`, { headers: auth(owner.token), body: JSON.stringify({ one_time_keys: oneTime }) });
    uploaded += n;
  }
  const body = JSON.stringify({ one_time_keys: { [owner.userId]: { D: MLS_KEY_PACKAGE_ALGORITHM } } });
  const seen = new Set<string>();
  const out: ClaimLevel[] = [];
  for (const concurrency of CFG.claimLevels) {
    const samples: number[] = [];
    const ids: string[] = [];
    const t0 = performance.now();
    await mapLimit(Array.from({ length: CFG.claimsPerLevel }), concurrency, async () => {
      const s = performance.now();
      const r = await httpJson<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>(hubTarget, "POST", `${C}/keys/claim`, { headers: auth(claimer.token), body });
      samples.push(performance.now() - s);
      ids.push(...Object.keys(r.one_time_keys[owner.userId]?.["D"] ?? {}));
    });
    const wall = performance.now() - t0;
    for (const id of ids) seen.add(id);
    const level = { concurrency, claims: ids.length, latency: summarize(samples), claimsPerSecond: Math.round((samples.length * 1000) / wall), distinct: new Set(ids).size };
    if (level.distinct !== level.claims || ids.length !== CFG.claimsPerLevel) throw new Error(`claims at ${concurrency}: ${ids.length} answered, ${level.distinct} distinct`);
    log(`  ${concurrency} concurrent claimers: p50 ${level.latency.p50} ms, p99 ${level.latency.p99} ms, ${level.claimsPerSecond} claims/s, ${level.distinct}/${level.claims} distinct`);
    out.push(level);
  }
  if (seen.size !== total) throw new Error(`a KeyPackage was handed out twice: ${seen.size} distinct of ${total}`);
  return out;
}

async function main(): Promise<void> {
  const members = await startMembersServer();
  const port = await freePort();
  const hostMap = { [MEMBERS_SERVER]: `http://127.0.0.1:${members.port}` };
  const hub = await startServer({ name: HUB, port, hostMap, bindings: { RATE_LIMITS: NO_LIMITS } });
  hubTarget = target(hub.url);
  try {
    log(`mode ${QUICK ? "quick" : "full"}; hub ${HUB} on :${port} (workerd pid ${hub.pid}); members on ${MEMBERS_SERVER}, played by this process`);
    const maxSize = Math.max(...CFG.sizes);
    const bigExtras = CFG.bigAdds.reduce((a, b) => a + b * CFG.bigReps, 0);
    const t0 = Date.now();
    const remote = await mapLimit(Array.from({ length: maxSize - 1 + CFG.samples + bigExtras }), 8, (_, i) => device(`@m${i}:${MEMBERS_SERVER}`));
    for (const m of remote) members.devices.set(m.userId, m.deviceKeys);
    const creator = await registerLocal("creator");
    const claimOwner = await registerLocal("claimed");
    log(`${remote.length} remote members with one MLS device each, credentials served by ${MEMBERS_SERVER} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    const inGroupPool = remote.slice(0, maxSize - 1);
    const extras = remote.slice(maxSize - 1, maxSize - 1 + CFG.samples);
    const bigPool = remote.slice(maxSize - 1 + CFG.samples);

    const rows: Row[] = [];
    for (const size of CFG.sizes) {
      const t1 = Date.now();
      const { room_id: roomId } = await httpJson<{ room_id: string }>(hubTarget, "POST", `${C}/createRoom`, {
        headers: auth(creator.token),
        body: JSON.stringify({ preset: "public_chat", creation_content: { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } } }),
      });
      const inGroup = inGroupPool.slice(0, size - 1);
      await joinRemote(members, roomId, [...inGroup, ...extras, ...(size === maxSize ? bigPool : [])]);
      await creator.mls.createGroup(roomId);
      const genesis = await creator.mls.commit();
      await send(creator, roomId, "m.mls.commit", { message: genesis.message });
      creator.mls.confirm(genesis);
      for (let i = 0; i < inGroup.length; i += BUILD_BATCH) await commit(creator, roomId, inGroup.slice(i, i + BUILD_BATCH));
      log(`group of ${size} in ${roomId} (${Math.ceil(inGroup.length / BUILD_BATCH)} adding commits, ${((Date.now() - t1) / 1000).toFixed(1)} s)`);
      if (size === CFG.sizes[0]) {
        // A fresh workerd compiles and caches as it goes: warm both paths before the first measured batch.
        for (let i = 0; i < WARMUP; i++) {
          await commit(creator, roomId, []);
          await send(creator, roomId, "m.room.message", plainOfSize(800));
        }
      }
      rows.push(await measure(hub, size, roomId, creator, [...extras], 1, CFG.samples));
      if (size === maxSize) for (const adds of CFG.bigAdds) rows.push(await measure(hub, size, roomId, creator, bigPool, adds, CFG.bigReps));
    }

    log("claims: one local device's KeyPackages claimed by concurrent clients");
    const claimRows = await claims(claimOwner, creator);

    const out = {
      mode: QUICK ? "quick" : "full",
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memGiB: r2(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg().map(r2) },
      commits: rows,
      claims: claimRows,
      durationS: Math.round((Date.now() - started) / 1000),
    };
    // Only a full run writes the tracked results file (mls-commit.md cites it); a quick one stays in the git-ignored build folder.
    const dir = QUICK ? join(ROOT, "bench", ".build", "results") : join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `mls-latest-${out.mode}.json`);
    writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
    console.log("\n" + table(rows, claimRows) + "\n");
    log(`done in ${out.durationS} s; results in ${relative(ROOT, file)}`);
  } finally {
    await hub.dispose();
    members.server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
