// Fuzzes the client API's key endpoints: device keys, backup, cross-signing, to-device, devices, MIMI client (fuzz-family.ts).
import { fuzzFamily } from "./fuzz-family.js";

fuzzFamily("client-keys");
