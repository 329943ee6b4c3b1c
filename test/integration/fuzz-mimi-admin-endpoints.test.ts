// Fuzzes MIMI's protocol and directory endpoints and the admin API (fuzz-family.ts).
import { fuzzFamily } from "./fuzz-family.js";

fuzzFamily("mimi-admin");
