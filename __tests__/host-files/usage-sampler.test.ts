/**
 * The usage sampler (templates/common/usage-sampler.py), shipped text: on this machine's real /proc and /sys it
 * records samples and reads the shape's bandwidth from a stand-in metadata service (the IMDS v2 document's
 * shapeConfig); on written samples it applies Oracle's rule (every figure under 20 % at the 95th percentile over
 * 7 days) exactly at the boundary, and keeps its file bounded.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { NODE_CONFIG_PATH, USAGE_STATE_DIR } from "../../lib/host-contract";
import { stopProcess, waitFor } from "../../sandbox/wait";

const SAMPLER = path.join(__dirname, "..", "..", "templates", "common", "usage-sampler.py");
const DAY = 86400;

let root: string;
const stateDir = () => path.join(root, USAGE_STATE_DIR);
const usage = () => JSON.parse(fs.readFileSync(path.join(stateDir(), "usage.json"), "utf8"));

function writeConfig(sampleSeconds: number, metadataUrl = "http://127.0.0.1:9/opc/v2/instance/") {
  fs.mkdirSync(path.dirname(path.join(root, NODE_CONFIG_PATH)), { recursive: true });
  fs.writeFileSync(
    path.join(root, NODE_CONFIG_PATH),
    JSON.stringify({ usage: { stateDir: USAGE_STATE_DIR, sampleSeconds, windowDays: 7, idleThresholdPercent: 20, instanceMetadataUrl: metadataUrl } }),
  );
}

/** Samples as the sampler writes them: epoch, CPU %, memory %, network bytes/s (the busier direction). */
function writeSamples(rows: Array<[number, number, number, number]>) {
  fs.mkdirSync(stateDir(), { recursive: true });
  fs.writeFileSync(path.join(stateDir(), "samples.tsv"), rows.map((row) => row.join(" ") + "\n").join(""));
}

function summarize(bandwidthGbps: number | null) {
  if (bandwidthGbps !== null) fs.writeFileSync(path.join(stateDir(), "usage.json"), JSON.stringify({ networkBandwidthGbps: bandwidthGbps }));
  const run = spawnSync("python3", [SAMPLER, "--summarize"], { env: { ...process.env, DOKPLOY_OCI_ROOT: root }, encoding: "utf8" });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  return usage();
}

/** `count` minute samples ending now, `busy` of them (the newest) with CPU at 90 %, the rest at 5 %. */
function minutes(count: number, busy: number, memory = 10, networkBytes = 1000): Array<[number, number, number, number]> {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, i) => [now - (count - i) * 60, i >= count - busy ? 90 : 5, memory, networkBytes]);
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "usage-sampler-"));
  writeConfig(60);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe("Oracle's idle rule on recorded samples", () => {
  test("95 of 100 samples under 20 % is idle; 94 is not (the 95th percentile, nearest rank)", () => {
    writeSamples(minutes(100, 5));
    expect(summarize(1)).toMatchObject({ idle: true, samples: 100, p95: { cpuPercent: 5, memoryPercent: 10 } });
    writeSamples(minutes(100, 6));
    expect(summarize(1)).toMatchObject({ idle: false, p95: { cpuPercent: 90 } });
  });

  test("memory or network at 20 % or more keeps a node with an idle CPU from being idle", () => {
    writeSamples(minutes(100, 0, 20));
    expect(summarize(1)).toMatchObject({ idle: false, p95: { memoryPercent: 20 } });
    // 25 MB/s on a 1 Gbps shape is 20 % of it.
    writeSamples(minutes(100, 0, 10, 25_000_000));
    expect(summarize(1)).toMatchObject({ idle: false, p95: { networkPercent: 20 } });
    writeSamples(minutes(100, 0, 10, 2_500_000));
    expect(summarize(1)).toMatchObject({ idle: true, p95: { networkPercent: 2 }, networkBandwidthGbps: 1 });
  });

  test("while the shape's bandwidth is unknown, network % is null and the node is never called idle", () => {
    writeSamples(minutes(100, 0));
    expect(summarize(null)).toMatchObject({ idle: false, networkBandwidthGbps: null, p95: { networkPercent: null } });
  });

  test("only the last 7 days count; the file drops older samples once it holds a day of them, and no samples is not idle", () => {
    const now = Math.floor(Date.now() / 1000);
    const old: Array<[number, number, number, number]> = Array.from({ length: 1441 }, (_, i) => [now - 8 * DAY - i * 60, 95, 95, 1e9]);
    writeSamples([...old.reverse(), ...minutes(10, 0)]);
    const summary = summarize(1);
    expect(summary).toMatchObject({ idle: true, samples: 10, windowDays: 7 });
    expect(fs.readFileSync(path.join(stateDir(), "samples.tsv"), "utf8").trim().split("\n")).toHaveLength(10);
    writeSamples([]);
    expect(summarize(1)).toMatchObject({ idle: false, samples: 0, coveredDays: 0 });
  });
});

describe("on this machine's real /proc", () => {
  let metadata: http.Server;
  let requests: Array<string | undefined>;

  beforeEach(async () => {
    requests = [];
    // The IMDS v2 instance document's shape fields (Oracle: shapeConfig.networkingBandwidthInGbps).
    metadata = http.createServer((request, response) => {
      requests.push(request.headers.authorization);
      if (request.headers.authorization !== "Bearer Oracle") {
        response.writeHead(401).end();
        return;
      }
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ shape: "VM.Standard.A1.Flex", shapeConfig: { ocpus: 1, memoryInGBs: 6, networkingBandwidthInGbps: 1 } }));
    });
    await new Promise<void>((resolve) => metadata.listen(0, "127.0.0.1", resolve));
    for (const dir of ["proc", "sys"]) fs.symlinkSync(`/${dir}`, path.join(root, dir));
  });
  afterEach(() => new Promise((resolve) => metadata.close(resolve)));

  test("samples CPU, memory and network once per interval and reads the shape's bandwidth with the v2 header", async () => {
    writeConfig(1, `http://127.0.0.1:${(metadata.address() as AddressInfo).port}/opc/v2/instance/`);
    const sampler = spawn("python3", [SAMPLER], { env: { ...process.env, DOKPLOY_OCI_ROOT: root }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    sampler.stderr.on("data", (chunk) => (stderr += chunk));
    try {
      await waitFor(() => fs.existsSync(path.join(stateDir(), "usage.json")) && usage().samples >= 3, "three samples in usage.json");
    } finally {
      await stopProcess(sampler);
    }
    expect(stderr).toBe("");
    const summary = usage();
    expect(summary.networkBandwidthGbps).toBe(1);
    expect(requests.every((header) => header === "Bearer Oracle")).toBe(true);
    for (const figure of [summary.p95.cpuPercent, summary.p95.memoryPercent, summary.p95.networkPercent]) {
      expect(figure).toBeGreaterThanOrEqual(0);
      expect(figure).toBeLessThanOrEqual(100);
    }
    // This machine runs the test: its memory is in use.
    expect(summary.p95.memoryPercent).toBeGreaterThan(0);
    const rows = fs.readFileSync(path.join(stateDir(), "samples.tsv"), "utf8").trim().split("\n");
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) expect(row).toMatch(/^\d{10} \d+\.\d \d+\.\d \d+$/);
  });
});
