// Fuzzes the server-server endpoints (Linearized Matrix, Matrix federation) and the key server (fuzz-family.ts).
import { fuzzFamily } from "./fuzz-family.js";

fuzzFamily("federation");
