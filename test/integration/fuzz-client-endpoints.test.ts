// Fuzzes the client API's endpoints (rooms, sync, accounts, push, directory...), less keys and media (fuzz-family.ts).
import { fuzzFamily } from "./fuzz-family.js";

fuzzFamily("client");
