/** Checks a cloud-config with the real `cloud-init schema` (Debian's cloud-init package). */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export function cloudInitSchemaCheck(yaml: string): { ok: boolean; output: string } {
  const probe = spawnSync("cloud-init", ["--version"], { encoding: "utf8" });
  if (probe.status !== 0) throw new Error("cloud-init is not installed: `apt-get install cloud-init` (the test needs its schema check)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloud-config-"));
  try {
    const file = path.join(dir, "user-data.yaml");
    fs.writeFileSync(file, yaml);
    const run = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
