// Fuzzes the media endpoints, client and federation (fuzz-family.ts).
import { fuzzFamily } from "./fuzz-family.js";

fuzzFamily("media");
