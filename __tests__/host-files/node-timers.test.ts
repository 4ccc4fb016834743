/**
 * The timers every node gets from nodeCloudConfig (lib/oci-node.ts): their units pass systemd-analyze verify, and
 * the manager's and the workers' cloud-config both ship them and enable the timers at first boot.
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
const TIMERS = [{ timer: "dokploy-docker-cleanup.timer", service: "dokploy-docker-cleanup.service", program: "docker-cleanup.sh" }];

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
(hasSystemdAnalyze ? test.each(TIMERS) : test.skip.each(TIMERS))("$timer and $service pass systemd-analyze verify without a word", ({ timer, service, program }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-timers-"));
  try {
    // The program where ExecStart names it, under the temp dir (verify checks that it is executable).
    const bin = path.join(dir, "opt/dokploy-oci/bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, program), readHostFile(`common/${program}`), { mode: 0o755 });
    fs.writeFileSync(path.join(dir, timer), readHostFile(`common/${timer}`));
    fs.writeFileSync(path.join(dir, service), readHostFile(`common/${service}`).split("/opt/dokploy-oci/bin/").join(`${bin}/`));
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", path.join(dir, timer), path.join(dir, service)], { encoding: "utf8" });
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: "" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("manager and workers ship every timer, its service and program, and enable the timer at first boot", () => {
  const stack = new TerraformStack(Testing.app(), "timers");
  const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "ocid1.compartment.oc1..test", sshPublicKeys: [KEY], adminEmail: "a@example.com" });
  for (const cloudConfig of [cluster.manager.cloudConfig, cluster.workers.cloudConfig]) {
    const document = parse(cloudConfig.renderYaml());
    const paths = document.write_files.map((file: any) => file.path);
    for (const { timer, service, program } of TIMERS) {
      expect(paths).toEqual(expect.arrayContaining([`/etc/systemd/system/${timer}`, `/etc/systemd/system/${service}`, `/opt/dokploy-oci/bin/${program}`]));
      expect(document.runcmd).toContainEqual(["systemctl", "enable", "--now", timer]);
    }
    expect(cloudConfig.nodeConfig().dockerCleanup).toEqual({ pruneAfterHours: 24 });
  }
});
