/**
 * A power cut during a node's first boot: the two commands of its cloud-config that make cloud-init do the whole
 * first boot again until it is on disk, run as the rendered YAML has them, in a private mount namespace whose
 * /var/lib is an empty tmpfs holding what cloud-init and the node left. (On a real machine, a cut as cloud-init
 * entered its last stage left the SSH host keys and the runcmd script empty under markers that said done; the
 * real-machine tier, __tests__/vm, cuts worker-3's power there.) Needs root (unshare, mount).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformResource, TerraformStack, Testing } from "cdktf";
import { parse } from "yaml";
import { nodeCloudConfig } from "../../lib/oci-node";
import { FIRST_BOOT_DONE_PATH, RELEASE_STATE_PATH } from "../../lib/host-contract";

const MARKERS = "/var/lib/cloud/instance/sem";
/** cloud-init's markers after its config stage: the modules that ran, and a marker that is not a module's. */
const LEFT_BY_CLOUD_INIT = ["config_write_files", "config_ssh", "config_users_groups", "config_runcmd", "consume_data"];

function renderedCommands(): { boot: string[][]; run: string[][] } {
  const stack = new TerraformStack(Testing.app(), "node");
  const release = { sha256: "ab".repeat(32), url: "https://objectstorage.example.com/p/x/o/", upload: new TerraformResource(stack, "upload", { terraformResourceType: "null_resource" }) };
  const yaml = nodeCloudConfig({ role: "worker", config: () => ({}), hostPorts: () => [], release, dockerPruneAfterHours: 24 }).renderYaml();
  const document = parse(yaml);
  return { boot: document.bootcmd, run: document.runcmd };
}

let stubs: string;
beforeAll(() => {
  stubs = fs.mkdtempSync(path.join(os.tmpdir(), "first-boot-"));
  // `systemctl is-enabled --quiet UNIT` answers as $UNIT_ENABLED says; anything else is a mistake here.
  fs.writeFileSync(path.join(stubs, "systemctl"), '#!/bin/sh\n[ "$1 $2" = "is-enabled --quiet" ] || exit 99\n[ "$UNIT_ENABLED" = yes ]\n', { mode: 0o755 });
});
afterAll(() => fs.rmSync(stubs, { recursive: true, force: true }));

/**
 * Runs `command` with /var/lib holding `files` (relative to /), then lists what is under the markers' folder and
 * whether the first boot is recorded.
 */
function runOnNode(command: string[], files: string[], env: Record<string, string> = {}): { code: number | null; markers: string[]; recorded: boolean } {
  const setup = files.map((file) => `mkdir -p "$(dirname ${file})" && touch ${file}`).join(" && ");
  const script = `mount -t tmpfs first-boot /var/lib && ${setup || "true"} && { "$@"; echo "exit $?"; ls ${MARKERS} | tr '\\n' ' '; echo; test -e ${FIRST_BOOT_DONE_PATH} && echo recorded || echo not recorded; }`;
  const result = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", ...command], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, ...env },
  });
  if (result.status !== 0) throw new Error(`unshare failed (${result.status}): ${result.stderr}`);
  const [exit, markers, recorded] = result.stdout.trim().split("\n");
  return { code: Number(exit.replace("exit ", "")), markers: markers.trim().split(" ").filter(Boolean).sort(), recorded: recorded === "recorded" };
}

const markerFiles = LEFT_BY_CLOUD_INIT.map((name) => `${MARKERS}/${name}`);

describe("a node's first boot is redone until it is on disk", () => {
  const { boot, run } = renderedCommands();

  test("the cloud-config has one boot command and records the first boot as runcmd's last command", () => {
    expect(boot).toHaveLength(1);
    expect(run).toHaveLength(3);
  });

  test("cut short (cloud-init's markers, nothing recorded, no host release): every module's marker is cleared, so cloud-init runs them again", () => {
    expect(runOnNode(boot[0], markerFiles)).toEqual({ code: 0, markers: ["consume_data"], recorded: false });
  });

  test("recorded: the markers stay, and cloud-init does not run the first boot again", () => {
    expect(runOnNode(boot[0], [...markerFiles, FIRST_BOOT_DONE_PATH])).toEqual({ code: 0, markers: [...LEFT_BY_CLOUD_INIT].sort(), recorded: true });
  });

  test("a node whose host release is installed (one set up before the record existed) is left alone", () => {
    expect(runOnNode(boot[0], [...markerFiles, RELEASE_STATE_PATH])).toEqual({ code: 0, markers: [...LEFT_BY_CLOUD_INIT].sort(), recorded: false });
  });

  test("runcmd's last command records the first boot once the release's unit is enabled, and not before", () => {
    const record = run[run.length - 1];
    expect(runOnNode(record, markerFiles, { UNIT_ENABLED: "yes" })).toMatchObject({ code: 0, recorded: true });
    expect(runOnNode(record, markerFiles, { UNIT_ENABLED: "no" })).toMatchObject({ code: 1, recorded: false });
  });
});
