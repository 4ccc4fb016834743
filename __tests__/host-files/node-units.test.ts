/**
 * The units every node gets from nodeCloudConfig (lib/oci-node.ts), the daily cleanup and the usage sampler: they
 * pass systemd-analyze verify, and the manager's and the workers' cloud-config both ship them and enable them at
 * first boot.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { TerraformStack, Testing } from "cdktf";
import { DokployCluster } from "../../constructs/oci/dokploy-cluster";
import { readHostFile } from "../../lib/templates";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";
/** `started`: the unit enabled at first boot (a timer, or the service itself); `units`: what verify checks together. */
const NODE_UNITS = [
  { started: "dokploy-docker-cleanup.timer", units: ["dokploy-docker-cleanup.timer", "dokploy-docker-cleanup.service"], program: "docker-cleanup.sh" },
  { started: "dokploy-usage-sampler.service", units: ["dokploy-usage-sampler.service"], program: "usage-sampler.py" },
];

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
(hasSystemdAnalyze ? test.each(NODE_UNITS) : test.skip.each(NODE_UNITS))("$units pass systemd-analyze verify without a word", ({ units, program }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-timers-"));
  try {
    // The program where ExecStart names it, under the temp dir (verify checks that it is executable).
    const bin = path.join(dir, "opt/dokploy-oci/bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, program), readHostFile(`common/${program}`), { mode: 0o755 });
    for (const unit of units) fs.writeFileSync(path.join(dir, unit), readHostFile(`common/${unit}`).split("/opt/dokploy-oci/bin/").join(`${bin}/`));
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", ...units.map((unit) => path.join(dir, unit))], { encoding: "utf8" });
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: "" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("manager and workers ship every unit and program, and enable them at first boot", () => {
  const stack = new TerraformStack(Testing.app(), "timers");
  const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "ocid1.compartment.oc1..test", sshPublicKeys: [KEY], adminEmail: "a@example.com" });
  for (const cloudConfig of [cluster.manager.cloudConfig, cluster.workers.cloudConfig]) {
    const document = parse(cloudConfig.renderYaml());
    const paths = document.write_files.map((file: any) => file.path);
    for (const { started, units, program } of NODE_UNITS) {
      expect(paths).toEqual(expect.arrayContaining([...units.map((unit) => `/etc/systemd/system/${unit}`), `/opt/dokploy-oci/bin/${program}`]));
      expect(document.runcmd).toContainEqual(["systemctl", "enable", "--now", started]);
    }
    expect(cloudConfig.nodeConfig().dockerCleanup).toEqual({ pruneAfterHours: 24 });
    // Oracle's rule as research/oci.md states it: 7 days, 20 %; a sample a minute.
    expect(cloudConfig.nodeConfig().usage).toEqual({
      stateDir: "/var/lib/dokploy-oci/usage",
      sampleSeconds: 60,
      windowDays: 7,
      idleThresholdPercent: 20,
      instanceMetadataUrl: "http://169.254.169.254/opc/v2/instance/",
    });
  }
});
