/**
 * Boot timings of the real-machine tests (seconds from a machine's start to each milestone), kept per machine in
 * the lab's cache: each run of __tests__/vm appends one line, and `npm run bench` reports their spread. Booting a
 * cluster takes many minutes under software emulation, so the benchmark reads what the test runs measured rather
 * than booting it again; the line says which accelerator ran.
 */
import * as fs from "fs";
import * as path from "path";
import { VM_CACHE } from "./vm-lab";

export const TIMINGS_FILE = path.join(VM_CACHE, "timings.jsonl");

export interface BootTimings {
  readonly at: string;
  readonly accel: string;
  /** node name -> milestone -> seconds from that machine's start. */
  readonly nodes: Record<string, Record<string, number>>;
}

export function recordTimings(accel: string, nodes: BootTimings["nodes"]): void {
  fs.mkdirSync(VM_CACHE, { recursive: true });
  fs.appendFileSync(TIMINGS_FILE, JSON.stringify({ at: new Date().toISOString(), accel, nodes }) + "\n");
}

export function readTimings(): BootTimings[] {
  if (!fs.existsSync(TIMINGS_FILE)) return [];
  return fs.readFileSync(TIMINGS_FILE, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
}
