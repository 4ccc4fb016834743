import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { collectStatus, formatStatus } from "../../lib/status";
import { FakeDokploy } from "../harness/fake-dokploy";

jest.setTimeout(60000);

const STUBS = path.join(__dirname, "..", "harness", "status-stubs");
const ROOT = path.join(__dirname, "..", "..");

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
      "nodes.json": JSON.stringify([
        { ls: { ID: "m1", Hostname: "manager", Status: "Ready", Availability: "Active", ManagerStatus: "Leader" }, addr: "10.0.0.10" },
        { ls: { ID: "w1", Hostname: "worker-1", Status: "Ready", Availability: "Active", ManagerStatus: "" }, addr: "10.0.0.11" },
        { ls: { ID: "w2", Hostname: "worker-2", Status: "Down", Availability: "Active", ManagerStatus: "" }, addr: "10.0.0.12" },
      ]),
    });
    host("10.0.0.11", { "cloud-init-status": "status: done\n", "var/log/dokploy-worker-setup.log": "2026-11-23T10:01:00Z worker ready\n" });
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
  const options = (unreachable = "") => ({ manager: "203.0.113.10", sshCommand: sshFor(unreachable), dokployUrl: dokploy.url, timeoutInSeconds: 10 });

  test("reports cloud-init, setup logs, swarm nodes, token server state and Dokploy servers; the API key stays on the manager", async () => {
    const status = await collectStatus(options());
    expect(status.manager.cloudInit).toEqual({ ok: true, output: "status: done" });
    expect(status.swarmNodes).toEqual([
      { hostname: "manager", role: "manager", status: "Ready", availability: "Active", address: "10.0.0.10" },
      { hostname: "worker-1", role: "worker", status: "Ready", availability: "Active", address: "10.0.0.11" },
      { hostname: "worker-2", role: "worker", status: "Down", availability: "Active", address: "10.0.0.12" },
    ]);
    expect(status.dokployServers).toEqual([]);
    expect(status.workers.find((worker) => worker.address === "10.0.0.11")!.setup.output).toMatch(/worker ready/);
    const calls = fs.readFileSync(path.join(hosts, "ssh-calls.log"), "utf8");
    expect(calls).toMatch(/-J ubuntu@203\.0\.113\.10 ubuntu@10\.0\.0\.11/);
    expect(calls).not.toContain(apiKey);
    expect(dokploy.calls.filter((call) => call.proc === "server.all")).toHaveLength(1);
  });

  test("an unreachable worker is named clearly and does not hide the rest", async () => {
    const status = await collectStatus(options("10.0.0.12"));
    const down = status.workers.find((worker) => worker.address === "10.0.0.12")!;
    expect(down.cloudInit).toEqual({ ok: false, output: expect.stringMatching(/^unreachable \(ubuntu@10\.0\.0\.12\): ssh: connect to host 10\.0\.0\.12 port 22: Connection refused/) });
    const report = formatStatus(status, "203.0.113.10");
    expect(report).toMatch(/== worker 10\.0\.0\.12\ncloud-init: FAILED unreachable/);
    expect(report).toMatch(/worker-1 +worker +Ready/);
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
});
