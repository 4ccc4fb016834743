/** The real terraform binary, for provider-free configurations only (no provider can be downloaded here). */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Fails loudly when terraform is missing: a round trip that silently passes would prove nothing. */
export function requireTerraform(): string {
  const found = spawnSync("terraform", ["version"], { encoding: "utf8" });
  if (found.status !== 0) {
    throw new Error("terraform is not on PATH: these tests need the real binary (1.x) to prove Terraform's behaviour");
  }
  return found.stdout.split("\n")[0];
}

/** Applies a provider-free .tf.json configuration in a temp dir and returns `terraform output -json`. */
export function applyAndReadOutputs(config: object, variables: Record<string, string> = {}): Record<string, { value: unknown }> {
  requireTerraform();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-roundtrip-"));
  try {
    fs.writeFileSync(path.join(dir, "main.tf.json"), JSON.stringify(config));
    const env = { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };
    const run = (args: string[]) => execFileSync("terraform", args, { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    run(["init", "-input=false", "-no-color"]);
    const varArgs = Object.entries(variables).flatMap(([name, value]) => ["-var", `${name}=${value}`]);
    run(["apply", "-auto-approve", "-input=false", "-no-color", ...varArgs]);
    return JSON.parse(run(["output", "-json"]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Like applyAndReadOutputs, but returns the failure text instead of throwing (for precondition tests). */
export function applyExpectingFailure(config: object, variables: Record<string, string> = {}): string {
  try {
    applyAndReadOutputs(config, variables);
  } catch (error: any) {
    return `${error.stdout ?? ""}${error.stderr ?? ""}`;
  }
  throw new Error("terraform apply succeeded but a failure was expected");
}
