/**
 * npm run bench: measures what this library controls and writes dist/bench/report.md with an SVG chart.
 *   1. join lag: real worker bootstrap long-polling the real token server (real seconds), against polling schedules
 *   2. critical path: when workers can join relative to the manager's Dokploy API steps
 *   3. synthesis cost: synth + validate + package for 0..100 workers (median of 5 warm runs, peak memory); the whole
 *      `npm run package` process (median and spread of 5); every node's metadata as the real terraform renders it
 *      (__tests__/terraform/real-user-data.test.ts writes the figures this quotes)
 *   4. free-tier fit of the default cluster
 *   5. a worker's answer time from the token server beside 500 slow clients
 * Figures print as they come; nothing here is a pass/fail test.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CLUSTER_DEFAULTS } from "../constructs/oci/dokploy-cluster";
import { DEFAULT_TENANCY_KIND, FREE_ALLOWANCES } from "../lib/free-tier";
import { OCI_METADATA_LIMIT_BYTES } from "../lib/cloud-init";
import { METADATA_SIZES_FILE } from "../sandbox/release";
import { BENCH_WAIT_SECONDS, measureJoinLag, JoinLagResult, REPEATS, SCHEDULES } from "./join-lag";
import { TIMINGS_FILE, readTimings } from "../sandbox/vm/timings";
import { measureSlowClients, SLOW_CLIENTS } from "./slow-clients";

const ROOT = path.join(__dirname, "..");
const OUT = path.join(ROOT, "dist", "bench");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface SynthRun {
  ms: number;
  maxRssKb: number;
  zipBytes: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function synthOnce(workers: number, outdir: string): SynthRun {
  const output = execFileSync("node", ["-r", "./scripts/register.js", path.join(__dirname, "synth-once.ts"), String(workers), outdir], {
    cwd: ROOT,
    encoding: "utf8",
    // Its errors reach the console: a failed synthesis must say why.
    stdio: ["ignore", "pipe", "inherit"],
  });
  return JSON.parse(output.trim().split("\n").pop()!);
}

function synthesisCost(): Array<{ workers: number; medianMs: number; maxRssMb: number; zipBytes: number }> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-synth-"));
  const rows = [];
  try {
    for (const workers of [0, 3, 10, 50, 100]) {
      synthOnce(workers, outdir); // warm-up: disk cache, transpile cache
      const runs = Array.from({ length: RUNS }, () => synthOnce(workers, outdir));
      const row = {
        workers,
        medianMs: median(runs.map((run) => run.ms)),
        maxRssMb: Math.max(...runs.map((run) => run.maxRssKb)) / 1024,
        zipBytes: runs[0].zipBytes,
      };
      console.log(`synth+package, ${workers} workers: median ${row.medianMs.toFixed(0)} ms, peak ${row.maxRssMb.toFixed(0)} MB, zip ${row.zipBytes} B`);
      rows.push(row);
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
  return rows;
}

/** `npm run package` as a user runs it, whole process, wall and CPU seconds: one warm-up, then RUNS runs. */
function packageCommand(): { wall: number[]; cpu: number[] } {
  execFileSync("npm", ["run", "--silent", "package"], { cwd: ROOT, stdio: "ignore" });
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const out = execFileSync("bash", ["-c", "TIMEFORMAT='%R %U %S'; { time npm run --silent package >/dev/null; } 2>&1"], { cwd: ROOT, encoding: "utf8" });
    const [real, user, sys] = out.trim().split("\n").pop()!.split(" ").map(Number);
    wall.push(real);
    cpu.push(user + sys);
  }
  console.log(`npm run package: wall median ${median(wall).toFixed(2)} s (${Math.min(...wall).toFixed(2)}-${Math.max(...wall).toFixed(2)}), CPU median ${median(cpu).toFixed(2)} s`);
  return { wall, cpu };
}

/** Every node's metadata bytes as the real terraform renders them from the ORM stack (the test writes them). */
function renderedMetadata(): Array<{ variant: string; instance: string; bytes: number }> {
  execFileSync("npx", ["jest", "__tests__/terraform/real-user-data.test.ts"], { cwd: ROOT, stdio: "ignore" });
  return JSON.parse(fs.readFileSync(METADATA_SIZES_FILE, "utf8"));
}

function barChart(title: string, bars: Array<{ label: string; value: number; color: string }>, unit: string): string {
  const width = 640;
  const barHeight = 22;
  const left = 230;
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const height = 40 + bars.length * (barHeight + 8);
  const rows = bars
    .map((bar, index) => {
      const y = 30 + index * (barHeight + 8);
      const length = Math.max(1, ((width - left - 90) * bar.value) / max);
      return (
        `<text x="${left - 8}" y="${y + 16}" text-anchor="end" font-size="12">${bar.label}</text>` +
        `<rect x="${left}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${bar.color}"/>` +
        `<text x="${(left + length + 6).toFixed(1)}" y="${y + 16}" font-size="12">${bar.value.toFixed(1)} ${unit}</text>`
      );
    })
    .join("\n");
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">\n` +
    `<text x="10" y="18" font-size="14" font-weight="bold">${title}</text>\n${rows}\n</svg>\n`
  );
}

/**
 * The spread of the real-machine test runs' boot timings on this machine (sandbox/vm/timings.ts): booting a cluster
 * takes many minutes under emulation, so the test records each run and this reports them.
 */
function realMachineTimings(): string {
  const runs = readTimings();
  if (!runs.length) return `No run of \`npx jest __tests__/vm\` has been recorded on this machine (${TIMINGS_FILE}).`;
  const rows: Array<Array<string | number>> = [];
  const nodes = [...new Set(runs.flatMap((run) => Object.keys(run.nodes)))].sort();
  for (const node of nodes) {
    const milestones = [...new Set(runs.flatMap((run) => Object.keys(run.nodes[node] ?? {})))];
    for (const milestone of milestones) {
      const values = runs.map((run) => run.nodes[node]?.[milestone]).filter((value): value is number => value !== undefined);
      rows.push([node, milestone, values.length, median(values).toFixed(0), `${Math.min(...values)}-${Math.max(...values)}`]);
    }
  }
  const accel = [...new Set(runs.map((run) => run.accel))].join(", ");
  const header = ["node", "milestone", "runs", "median (s)", "min-max (s)"];
  return [
    `Recorded by ${runs.length} run(s) of \`__tests__/vm\` on this machine (${accel === "tcg" ? "software emulation, TCG" : accel}; the ` +
      "machines boot at once, 1 vCPU each, beside whatever else the machine runs).",
    "",
    [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n"),
  ].join("\n");
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  console.log("== 1. join lag (real worker bootstrap + real token server, real seconds)");
  const lag: JoinLagResult[] = await measureJoinLag((line) => console.log(line));

  console.log("== 5. a worker's answer time beside slow clients");
  const slow = await measureSlowClients((line) => console.log(line));

  console.log("== 3. synthesis cost, npm run package, metadata sizes");
  const synth = synthesisCost();
  const packaging = packageCommand();
  const metadata = renderedMetadata();
  const three = synth.find((row) => row.workers === 3)!;
  const hundred = synth.find((row) => row.workers === 100)!;

  const budget = FREE_ALLOWANCES[DEFAULT_TENANCY_KIND];
  const defaultNodes = 1 + CLUSTER_DEFAULTS.workerCount;
  const table = (header: string[], rows: Array<Array<string | number>>) =>
    [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");

  const seconds = (value: number) => value.toFixed(2);
  const lagRows = lag.map((row) => [
    row.schedule,
    row.measured ? "measured" : "computed + measured poll cost",
    row.measured ? row.workers : "any",
    row.tokenAtSeconds,
    seconds(row.lag.median),
    `${seconds(row.lag.spread[0])}-${seconds(row.lag.spread[1])}`,
    seconds(row.lag.p90),
    seconds(row.lag.max),
  ]);
  const longPoll = lag.filter((row) => row.schedule === SCHEDULES.longPoll);
  const libraryMedian = Math.max(...longPoll.map((row) => row.lag.median));
  const libraryMax = Math.max(...longPoll.map((row) => row.lag.max));

  const machines = realMachineTimings();

  const report = `# dokploy-oci benchmark

Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, node ${process.version}. Generated by \`npm run bench\`.

## 1. Worker join lag after the token is available
Measured: real \`templates/worker/bootstrap.sh\` workers (stub docker records the join) long-poll the real
\`templates/manager/token-server.py\` on 127.0.0.1, each from its own loopback address; the join command is published
T seconds after every worker's request is in flight; real seconds, no time scaling, ${REPEATS} repeats per case. The
long poll lasts ${BENCH_WAIT_SECONDS} s here (55 s on a node), so T = 5 s includes renewed requests.

Computed: a polling schedule's lag is the wait for its next poll after T (drawn from the schedule's formula over many
simulated workers) plus the real cost of one poll and join, taken from the measured T = 0 runs. Running those
schedules for real would take minutes per case, and scaling their time down would scale the process cost with it.

${table(["schedule", "how", "workers", "T (s)", "median (s)", "repeat medians (s)", "p90 (s)", "max (s)"], lagRows)}

![join lag](join-lag.svg)

Goal: median under 1 s and max under 2 s after the token is published. Long poll, worst case over the runs: median
${libraryMedian.toFixed(2)} s, max ${libraryMax.toFixed(2)} s.

## 2. Critical path
The manager publishes the join command as soon as Dokploy's installer has created the swarm, before the Dokploy
API steps (admin, API key, SSH key), which take the seed's "3-5 minute" manager setup. In the seed's order the
token server starts only after those steps, so workers can join no earlier than the end of the manager setup;
here they join within the lag above of the swarm existing: the Dokploy API steps (seconds to minutes, mostly
waiting for Dokploy to come up) are off the workers' critical path. Registration in Dokploy follows on the
manager's next registration loop (every 15 s) once the SSH key exists; that loop is exercised end to end in
__tests__/behaviour/register-workers.test.ts and not timed here.

## 3. Synthesis cost (synth + validate + package, median of ${RUNS} warm runs)
${table(["workers", "median (ms)", "peak memory (MB)", "zip (bytes)"], synth.map((row) => [row.workers, row.medianMs.toFixed(0), row.maxRssMb.toFixed(0), row.zipBytes]))}

100 workers / 3 workers: ${(hundred.medianMs / three.medianMs).toFixed(2)}x (target < 2x). A pool is one
\`oci_core_instance\` with \`count\`, so the synthesized stack does not grow with the number of workers.

\`npm run package\` as a user runs it (whole process, the host release's build included; ${RUNS} runs after a
warm-up): wall median ${median(packaging.wall).toFixed(2)} s, spread ${Math.min(...packaging.wall).toFixed(2)}-${Math.max(...packaging.wall).toFixed(2)} s; CPU median
${median(packaging.cpu).toFixed(2)} s (load average at the end: ${os.loadavg()[0].toFixed(1)}). Goal: under 3 s wall on a quiet 2-core machine.

Instance metadata (user_data and SSH keys, bytes) as the real terraform renders it from the ORM zip's main.tf.json
(\`__tests__/terraform/real-user-data.test.ts\`); goal under 8,000 with every option on and three RSA-4096 keys,
OCI's limit ${OCI_METADATA_LIMIT_BYTES}. The host programs travel as a release in Object Storage: user_data holds
node.json, the loader and its unit.

${table(["form", "node", "bytes"], metadata.map((row) => [row.variant, row.instance, row.bytes]))}

## 4. Free-tier fit of the default cluster
${table(["resource", "used", "Always Free tenancy allowance"], [
    ["OCPUs (A1)", defaultNodes * CLUSTER_DEFAULTS.ocpusPerNode, budget.ocpus],
    ["memory (GB)", defaultNodes * CLUSTER_DEFAULTS.memoryInGbsPerNode, budget.memoryInGbs],
    ["boot volumes (GB)", defaultNodes * CLUSTER_DEFAULTS.bootVolumeSizeInGbsPerNode, budget.bootVolumeInGbs],
  ])}

Monthly cost of what the stack creates: 0 (A1.Flex within the allowance, one VCN, an internet gateway, NSGs,
boot volumes within 200 GB; no load balancer, no NAT gateway).

## 5. A worker's answer time beside slow clients
The real token server on 127.0.0.1; worker-1 asks for \`/token\` from its own loopback address, one request after
another (100 requests spaced over 12 s), alone and while ${SLOW_CLIENTS} clients on four other addresses each send a request a byte a second and
reconnect whenever the server cuts them off (at most 32 connections per address are served, each request must
arrive whole within 10 s).

${table(["load", "median (ms)", "p90 (ms)", "max (ms)", "answers not 200"], slow.map((row) => [row.load, row.median.toFixed(1), row.p90.toFixed(1), row.max.toFixed(1), row.failures]))}

## 6. Real machines: from machine start to each milestone
${machines}
`;
  fs.writeFileSync(path.join(OUT, "report.md"), report);
  fs.writeFileSync(
    path.join(OUT, "join-lag.svg"),
    barChart(
      "Median join lag after the token is available (s)",
      lag.map((row) => ({
        label: `${row.schedule.split(" (")[0]}, ${row.measured ? `N=${row.workers}, ` : ""}T=${row.tokenAtSeconds}s`,
        value: row.lag.median,
        color: row.schedule === SCHEDULES.longPoll ? "#2d7d46" : "#b5651d",
      })),
      "s",
    ),
  );
  console.log(`== 6. real machines (recorded test runs)\n${machines}`);
  console.log(`\nwrote ${path.relative(process.cwd(), path.join(OUT, "report.md"))} and join-lag.svg`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
