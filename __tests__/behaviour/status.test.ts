import { execFile, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { collectStatus, formatStatus, parseBackups, printable, statusFailed } from "../../scripts/lib/status";
import { FakeDokploy } from "../harness/fake-dokploy";
import { WAIT_LIMIT_MS } from "../../sandbox/wait";


const STUBS = path.join(__dirname, "..", "harness", "status-stubs");
const MANAGER = "203.0.113.10";

/** One node as `docker node inspect` prints it (the fields the tool reads, in docker's own shape). */
function inspected(id: string, hostname: unknown, state: string, addr: unknown, role = "worker") {
  return {
    ID: id,
    Spec: { Role: role, Availability: "active" },
    Description: { Hostname: hostname },
    Status: { State: state, ...(addr !== undefined && { Addr: addr }) },
    ...(role === "manager" && { ManagerStatus: { Leader: true, Reachability: "reachable", Addr: "10.0.0.10:2377" } }),
  };
}
const ROOT = path.join(__dirname, "..", "..");
const USAGE_FILE = "var/lib/dokploy-oci/usage/usage.json";
/** What `df -P -B1 /` prints for a 100 GB boot volume with `used` bytes in use. */
const df = (used: number) =>
  `Filesystem      1-blocks        Used    Available Capacity Mounted on\n/dev/sda1   100000000000 ${used} ${100000000000 - used} ${Math.round(used / 1e9)}% /\n`;
/** usage.json as the usage sampler writes it. */
const usageSummary = (p95: [number, number, number | null], idle: boolean, coveredDays = 2.5) =>
  JSON.stringify({
    updatedAt: 1764000000, windowDays: 7, coveredDays, samples: Math.round(coveredDays * 1440), idle, idleThresholdPercent: 20,
    networkBandwidthGbps: 1, p95: { cpuPercent: p95[0], memoryPercent: p95[1], networkPercent: p95[2] },
  });

describe("npm run status", () => {
  let hosts: string;
  let dokploy: FakeDokploy;
  let apiKey: string;

  beforeEach(async () => {
    hosts = fs.mkdtempSync(path.join(os.tmpdir(), "status-hosts-"));
    dokploy = new FakeDokploy();
    await dokploy.start();
    const { organization } = dokploy.seedAdmin({ email: "admin@example.com", password: "correct horse battery", name: "Admin" });
    apiKey = dokploy.seedApiKey({ name: "dokploy-oci", organizationId: organization.id, rateLimitEnabled: false }).key;
    const host = (name: string, files: Record<string, string>) => {
      for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(hosts, name, file)), { recursive: true });
        fs.writeFileSync(path.join(hosts, name, file), text);
      }
    };
    host("203.0.113.10", {
      "cloud-init-status": "status: done\n",
      "var/log/dokploy-manager-setup.log": "2026-11-23T10:00:00Z Dokploy manager ready\n",
      "var/lib/dokploy-oci/token-server/server-state.json": '{"startedAt": 1, "fetched": {"10.0.0.11": ["token", "key"]}}\n',
      "opt/dokploy-credentials.json": JSON.stringify({ api_key: apiKey }),
      [USAGE_FILE]: usageSummary([35.2, 41, 0.4], false),
      df: df(12_000_000_000),
      "nodes.json": JSON.stringify([
        inspected("m1", "manager", "ready", "10.0.0.10", "manager"),
        inspected("w1", "worker-1", "ready", "10.0.0.11"),
        inspected("w2", "worker-2", "down", "10.0.0.12"),
      ]),
    });
    host("10.0.0.11", {
      "cloud-init-status": "status: done\n",
      "var/log/dokploy-worker-setup.log": "2026-11-23T10:01:00Z worker ready\n",
      [USAGE_FILE]: usageSummary([2, 11.5, 0.1], true, 7),
      df: df(40_000_000_000),
    });
  });

  afterEach(async () => {
    await dokploy.stop();
    fs.rmSync(hosts, { recursive: true, force: true });
  });

  /** An ssh for this test's hosts: the stub, told where the hosts live and which are down. */
  const sshFor = (unreachable: string) => {
    const wrapper = path.join(hosts, `ssh-${unreachable || "all-up"}`);
    fs.writeFileSync(wrapper, `#!/usr/bin/env bash\nSTATUS_HOSTS_DIR='${hosts}' STATUS_UNREACHABLE='${unreachable}' exec '${path.join(STUBS, "ssh")}' "$@"\n`, { mode: 0o755 });
    return wrapper;
  };
  const options = (unreachable = "") => ({ manager: MANAGER, sshCommand: sshFor(unreachable), dokployUrl: dokploy.url, timeoutInSeconds: WAIT_LIMIT_MS / 1000 });

  test("reports cloud-init, setup logs, swarm nodes, token server state and Dokploy servers; the API key stays on the manager", async () => {
    const status = await collectStatus(options());
    expect(status.manager.cloudInit).toEqual({ ok: true, output: "status: done" });
    expect(status.swarmNodes).toEqual([
      { hostname: "manager", role: "manager", status: "ready", availability: "active", address: "10.0.0.10" },
      { hostname: "worker-1", role: "worker", status: "ready", availability: "active", address: "10.0.0.11" },
      { hostname: "worker-2", role: "worker", status: "down", availability: "active", address: "10.0.0.12" },
    ]);
    expect(status.dokployServers).toEqual([]);
    expect(status.workers.find((worker) => worker.address === "10.0.0.11")!.setup.output).toMatch(/worker ready/);
    const calls = fs.readFileSync(path.join(hosts, "ssh-calls.log"), "utf8");
    expect(calls).toMatch(/-J ubuntu@203\.0\.113\.10 ubuntu@10\.0\.0\.11/);
    expect(calls).not.toContain(apiKey);
    // No command line on the manager carries the key either (every sudo argv is recorded).
    expect(fs.readFileSync(path.join(hosts, "argv.log"), "utf8")).not.toContain(apiKey);
    expect(dokploy.calls.filter((call) => call.proc === "server.all")).toHaveLength(1);
  });

  test("each node's host release; a node set up before releases (0.1.0) gets the one-time command, filled in", async () => {
    const sha = (c: string) => c.repeat(64);
    const state = { current: sha("b"), previous: sha("a"), switching: null, failed: [sha("c")], updatedAt: "2026-12-01T00:00:00Z" };
    fs.mkdirSync(path.join(hosts, "203.0.113.10/var/lib/dokploy-oci"), { recursive: true });
    fs.writeFileSync(path.join(hosts, "203.0.113.10/var/lib/dokploy-oci/release.json"), JSON.stringify(state));
    fs.mkdirSync(path.join(hosts, "203.0.113.10/opt/dokploy-oci/current"), { recursive: true });
    fs.writeFileSync(path.join(hosts, "203.0.113.10/opt/dokploy-oci/current/VERSION"), "0.2.0\n");
    const url = "https://objectstorage.eu-frankfurt-1.oraclecloud.com/p/tok/n/ns/b/dokploy-releases-1a2b3c4d/o/";
    const status = await collectStatus({ ...options(), release: { url, sha256: sha("b") } });
    expect(status.manager.release).toEqual({ ok: true, output: `bbbbbbbbbbbb (0.2.0); previous aaaaaaaaaaaa; failed its check here: cccccccccccc` });
    const worker = status.workers.find((node) => node.address === "10.0.0.11")!;
    expect(worker.release.output).toMatch(/^none: this node was set up before host releases/);
    expect(worker.release.output).toContain(`curl -fsS -o /tmp/release.tar.gz ${url}${sha("b")}.tar.gz && echo "${sha("b")}  /tmp/release.tar.gz" | sha256sum -c`);
    expect(worker.release.output).toContain(`sudo python3 /tmp/release/bin/release-agent.py adopt ${sha("b")} ${url}'`);
    expect(formatStatus(status, MANAGER)).toMatch(/setup log: .*\nhost release: bbbbbbbbbbbb \(0\.2\.0\)/);
  });

  test("a node that does not answer within --timeout is said to be slow, not unreachable, and fails the report", async () => {
    const wrapper = path.join(hosts, "ssh-slow-manager");
    fs.writeFileSync(wrapper, `#!/usr/bin/env bash\nSTATUS_HOSTS_DIR='${hosts}' STATUS_SLOW='${MANAGER}' exec '${path.join(STUBS, "ssh")}' "$@"\n`, { mode: 0o755 });
    const status = await collectStatus({ ...options(), sshCommand: wrapper, timeoutInSeconds: 1 });
    expect(status.manager.cloudInit).toEqual({ ok: false, output: "no answer from ubuntu@203.0.113.10 within 1 s (--timeout)" });
    expect(formatStatus(status, MANAGER)).not.toContain("unreachable");
    expect(statusFailed(status)).toBe(true);
  });

  test("the CLI refuses a --timeout that is not a whole number of seconds, naming the flag", async () => {
    for (const timeout of ["abc", "0", "1.5", "-3"]) {
      const run = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts", "status.ts"), MANAGER, "--timeout", timeout], { cwd: ROOT, encoding: "utf8" });
      expect({ timeout, code: run.status, stderr: run.stderr.trim() }).toEqual({ timeout, code: 2, stderr: `--timeout must be a whole number of seconds above 0, not "${timeout}"` });
    }
  });

  describe("each node's disk and Oracle's idle rule", () => {
    test("are reported per node; an idle node is a warning that says what to do, not a failure", async () => {
      const status = await collectStatus(options());
      expect(status.manager.resources).toEqual({
        usage: expect.objectContaining({ idle: false, coveredDays: 2.5 }),
        disk: { sizeBytes: 100_000_000_000, usedBytes: 12_000_000_000, availableBytes: 88_000_000_000 },
      });
      const report = formatStatus(status, MANAGER);
      expect(report).toContain("disk: 12.0 of 100.0 GB used (12 %), 88.0 GB free\nusage (95th percentile, 2.5 of 7 days): CPU 35.2 %, memory 41.0 %, network 0.4 %\n");
      expect(report).toMatch(
        /== worker 10\.0\.0\.11\n[\s\S]*?\ndisk: 40\.0 of 100\.0 GB used \(40 %\), 60\.0 GB free\nusage \(95th percentile, 7\.0 of 7 days\): CPU 2\.0 %, memory 11\.5 %, network 0\.1 %\nWARNING idle by Oracle's rule \(CPU, memory and network all under 20 %\): Oracle stops an Always Free instance that stays so for 7 days\. Place work on this node, or upgrade the tenancy to Pay As You Go \(exempt\)\./,
      );
      expect(report.match(/WARNING idle/g)).toHaveLength(1);
      // Only the unreachable 10.0.0.12 fails this report; the idle worker does not.
      const withoutDown = { ...status, workers: status.workers.filter((worker) => worker.address !== "10.0.0.12") };
      expect(statusFailed(withoutDown)).toBe(false);
    });

    test("a disk at 90 % or more, and a node without a sample yet or with an unreadable answer", async () => {
      fs.writeFileSync(path.join(hosts, "10.0.0.11", "df"), df(90_000_000_000));
      fs.rmSync(path.join(hosts, MANAGER, USAGE_FILE));
      const status = await collectStatus(options());
      const report = formatStatus(status, MANAGER);
      expect(report).toContain("disk: FAILED 90.0 of 100.0 GB used (90 %), 10.0 GB free: at 90 % or more; Docker stops when the disk is full");
      expect(report).toContain("usage: no sample yet (the usage sampler records one a minute)");
      const withoutDown = { ...status, workers: status.workers.filter((worker) => worker.address !== "10.0.0.12") };
      expect(statusFailed(withoutDown)).toBe(true);
      fs.writeFileSync(path.join(hosts, "10.0.0.11", "df"), df(89_000_000_000));
      fs.writeFileSync(path.join(hosts, MANAGER, USAGE_FILE), "<html>");
      const garbled = await collectStatus(options());
      expect(garbled.manager.resources).toEqual({ ok: false, output: expect.stringMatching(/^unexpected answer about usage and disk: <html>/) });
      expect(statusFailed({ ...garbled, workers: garbled.workers.filter((worker) => worker.address !== "10.0.0.12") })).toBe(true);
    });
  });

  test("an unreachable worker is named clearly and does not hide the rest", async () => {
    const status = await collectStatus(options("10.0.0.12"));
    const down = status.workers.find((worker) => worker.address === "10.0.0.12")!;
    expect(down.cloudInit).toEqual({ ok: false, output: expect.stringMatching(/^unreachable \(ubuntu@10\.0\.0\.12\): ssh: connect to host 10\.0\.0\.12 port 22: Connection refused/) });
    const report = formatStatus(status, "203.0.113.10");
    expect(report).toMatch(/== worker 10\.0\.0\.12\ncloud-init: FAILED unreachable/);
    expect(report).toMatch(/worker-1 +worker +ready/);
  });

  test("an unreachable manager gives one clear failure per check, and the CLI exits 1", async () => {
    const status = await collectStatus(options("203.0.113.10"));
    expect(status.manager.cloudInit.output).toMatch(/^unreachable \(ubuntu@203\.0\.113\.10\)/);
    expect(status.workers).toEqual([]);
    const run = promisify(execFile)("npx", ["ts-node", "--transpile-only", "scripts/status.ts", "203.0.113.10"], {
      cwd: ROOT,
      env: { ...process.env, DOKPLOY_OCI_SSH: sshFor("203.0.113.10") },
    });
    await expect(run).rejects.toMatchObject({ code: 1, stdout: expect.stringMatching(/cloud-init: FAILED unreachable/) });
  });

  test("Dokploy's registered servers are listed", async () => {
    const status0 = await collectStatus(options());
    expect(Array.isArray(status0.dokployServers)).toBe(true);
    const organizationId = dokploy.organizations[0].id;
    dokploy.servers.push({
      serverId: "s1", name: "worker-1", description: "", ipAddress: "10.0.0.11", port: 22, username: "root", sshKeyId: "k",
      serverType: "deploy", enableDockerCleanup: true, organizationId, serverStatus: "active", createdAt: "now",
    });
    const status = await collectStatus(options());
    expect(status.dokployServers).toEqual([{ name: "worker-1", ipAddress: "10.0.0.11", serverType: "deploy" }]);
    expect(formatStatus(status, "203.0.113.10")).toMatch(/worker-1 +10\.0\.0\.11 +deploy/);
  });

  describe("a compromised worker controls its hostname, address and logs: they stay data", () => {
    const ESC = "\u001b";
    const hostile = [
      // Newlines and a second "address" in the hostname: the old line parser took these as extra nodes.
      inspected("w3", "evil\n10.9.9.9 evil2\n{\"Hostname\":\"x\"}", "ready", "10.0.0.13"),
      // Terminal escapes: clear the screen, retitle the window, overwrite the line.
      inspected("w4", `${ESC}[2J${ESC}]0;owned\u0007\rworker-4`, "ready", "10.0.0.14"),
      // Addresses that are not an IPv4 literal: shell syntax, an ssh option, a host name, IPv6, a port, nothing.
      inspected("w5", "worker-5", "ready", "$(touch /tmp/pwned)"),
      inspected("w6", "worker-6", "ready", "-oProxyCommand=touch /tmp/pwned"),
      inspected("w7", "worker-7", "ready", "attacker.example.com"),
      inspected("w8", "worker-8", "ready", "fd00::8"),
      inspected("w9", "worker-9", "ready", "10.0.0.19:22"),
      inspected("w10", "worker-10", "ready", undefined),
      inspected("w11", { not: "a string" }, "ready", 42),
    ];

    beforeEach(() => {
      const nodesFile = path.join(hosts, MANAGER, "nodes.json");
      fs.writeFileSync(nodesFile, JSON.stringify([...JSON.parse(fs.readFileSync(nodesFile, "utf8")), ...hostile]));
      fs.mkdirSync(path.join(hosts, "10.0.0.14", "var/log"), { recursive: true });
      fs.writeFileSync(path.join(hosts, "10.0.0.14", "cloud-init-status"), `status: done${ESC}[2J${ESC}[31m\rFAKE: all good\n`);
    });

    test("ssh reaches only nodes with an IPv4 address, each as one argument; the rest are reported, not contacted", async () => {
      const status = await collectStatus(options());
      expect(status.workers.map((worker) => worker.address).sort()).toEqual(["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]);
      expect(status.skippedWorkers.map((skipped) => skipped.hostname)).toEqual(["worker-5", "worker-6", "worker-7", "worker-8", "worker-9", "worker-10", "?"]);
      const targets = fs
        .readFileSync(path.join(hosts, "ssh-calls.log"), "utf8")
        .split("\n")
        .filter((line) => line.includes(" -J "))
        .map((line) => line.split(" -J ")[1].split(" ")[1]);
      expect([...new Set(targets)].sort()).toEqual(["ubuntu@10.0.0.11", "ubuntu@10.0.0.12", "ubuntu@10.0.0.13", "ubuntu@10.0.0.14"]);
      expect(fs.existsSync("/tmp/pwned")).toBe(false);
      // The hostname with newlines is one node, not three.
      expect(Array.isArray(status.swarmNodes) && status.swarmNodes).toHaveLength(3 + hostile.length);
    });

    test("the report shows control characters as escapes: no escape sequence reaches the terminal", async () => {
      const report = formatStatus(await collectStatus(options()), MANAGER);
      expect(report).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      expect(report).toContain("\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{d}worker-4");
      expect(report).toContain("evil\\u{a}10.9.9.9 evil2");
      expect(report).toContain("status: done\\u{1b}[2J\\u{1b}[31m\\u{d}FAKE: all good");
      expect(report).toMatch(/== worker worker-6\nnot contacted: the swarm reports no IPv4 address for it \("-oProxyCommand=touch \/tmp\/pwned"\)/);
    });

    test("printable keeps ordinary text and escapes every control and bidi character", () => {
      expect(printable("worker-1 10.0.0.11 ready")).toBe("worker-1 10.0.0.11 ready");
      expect(printable("a\nb", true)).toBe("a\nb");
      expect(printable("a\nb")).toBe("a\\u{a}b");
      expect(printable("\u202eevil\u009b\u007f")).toBe("\\u{202e}evil\\u{9b}\\u{7f}");
    });
  });
});

describe("the backups line of npm run status (backups.py status's answer)", () => {
  const answer = (lastRun: object | null) =>
    JSON.stringify({ schedule: "0 3 * * *", keepLatestCount: 7, lastRun, latestFile: { path: "b/webserver-backup-x.zip", name: "webserver-backup-x.zip", size: 52311 }, files: 3 });

  test("a backup that went through: time, size and result, a passed check", () => {
    expect(parseBackups({ ok: true, output: answer({ status: "done", createdAt: "2026-12-06T03:00:01.000Z" }) })).toEqual({
      ok: true,
      output: "last backup: done at 2026-12-06T03:00:01.000Z\nnewest file: webserver-backup-x.zip, 52311 bytes (3 kept of 7)\nschedule: 0 3 * * * (UTC)",
    });
  });

  test("what the kept backups take against the free 20 GB; outgrowing it is a failed check that says what to do", () => {
    const kept = (size: number, keepLatestCount: number, totalBytes: number) =>
      parseBackups({ ok: true, output: JSON.stringify({ schedule: "0 3 * * *", keepLatestCount, lastRun: { status: "done", createdAt: "2026-12-06T03:00:01.000Z" }, latestFile: { path: "b/w.zip", name: "w.zip", size }, files: 3, totalBytes }) });
    expect(kept(52311, 7, 150000)).toEqual({
      ok: true,
      output:
        "last backup: done at 2026-12-06T03:00:01.000Z\nnewest file: w.zip, 52311 bytes (3 kept of 7)\nschedule: 0 3 * * * (UTC)\n" +
        "kept backups: 150 kB now, about 366 kB once 7 are kept, of the 20 GB of Object Storage an Always Free tenancy gets",
    });
    // 10 x 2 GB is 20 GB: still inside; 7 x 3 GB is not.
    expect(kept(2e9, 10, 6e9).ok).toBe(true);
    const over = kept(3e9, 7, 9e9);
    expect(over.ok).toBe(false);
    expect(over.output.split("\n").pop()).toBe(
      'kept backups: 9.0 GB now, about 21.0 GB once 7 are kept, of the 20 GB of Object Storage an Always Free tenancy gets: too much; lower "Backups kept" in the form (backups.keepLatestCount) or free Object Storage elsewhere',
    );
    // Files already kept count too (say, of an older schedule in the same bucket).
    expect(kept(1e9, 2, 21e9).ok).toBe(false);
  });

  test("a failed backup is a failed check; backups off and older managers are not", () => {
    expect(parseBackups({ ok: true, output: answer({ status: "error", createdAt: "2026-12-06T03:00:01.000Z" }) }).ok).toBe(false);
    expect(parseBackups({ ok: true, output: "2026-12-06T03:00:01Z backups: backups are off (node.json: no backups, or backups.enabled is false)" })).toEqual({
      ok: true,
      output: "backups are off (node.json: no backups, or backups.enabled is false)",
    });
    expect(parseBackups({ ok: false, output: "unreachable" })).toEqual({ ok: false, output: "unreachable" });
    expect(parseBackups({ ok: true, output: "Traceback (most recent call last)" }).ok).toBe(false);
  });
});
