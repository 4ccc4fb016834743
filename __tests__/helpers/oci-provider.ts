/**
 * The real oracle/oci provider (../shared/providers, built from source) behind a dev_overrides CLI config, so
 * `terraform validate` checks synthesized stacks offline. Providers that cannot be built here (random, tls, null,
 * docker) are replaced by stand-ins: each of their resources becomes a variable of type any with the same
 * references, so everything that refers to them is still type-checked.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requireTerraform } from "./terraform";

export const OCI_PROVIDER_XZ = path.join(__dirname, "..", "..", "..", "shared", "providers", "terraform-provider-oci_8.28.0_linux_amd64.xz");
const CACHE_DIR = path.join(os.tmpdir(), "dokploy-oci-provider-8.28.0");

/** The CLI config file pointing oracle/oci at the unpacked binary (unpacked once per machine, then reused). */
export function ociCliConfig(): string {
  requireTerraform();
  const binary = path.join(CACHE_DIR, "terraform-provider-oci");
  const config = path.join(CACHE_DIR, "cli.tfrc");
  if (!fs.existsSync(binary)) {
    if (!fs.existsSync(OCI_PROVIDER_XZ)) throw new Error(`the real oracle/oci provider is missing at ${OCI_PROVIDER_XZ}; these tests need ../shared beside the repo`);
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${binary}.partial-${process.pid}`;
    try {
      fs.writeFileSync(partial, execFileSync("xz", ["-dc", OCI_PROVIDER_XZ], { maxBuffer: 1024 * 1024 * 1024 }), { mode: 0o755 });
      fs.renameSync(partial, binary);
    } finally {
      fs.rmSync(partial, { force: true });
    }
  }
  const text = `provider_installation {\n  dev_overrides { "oracle/oci" = "${CACHE_DIR}" }\n  direct {}\n}\n`;
  if (!fs.existsSync(config) || fs.readFileSync(config, "utf8") !== text) {
    const partial = `${config}.partial-${process.pid}`;
    fs.writeFileSync(partial, text);
    fs.renameSync(partial, config);
  }
  return config;
}

const STAND_IN_PREFIX = "standin_";

/**
 * A copy of a synthesized stack where every resource and data source of a provider other than oracle/oci (and
 * Terraform's built-in terraform_data), and of the oracle/oci types in `alsoReplace`, is a variable of type any,
 * referred to where the resource was.
 */
export function withStandIns(stackJson: any, alsoReplace: ReadonlyArray<string> = []): any {
  const json = JSON.parse(JSON.stringify(stackJson));
  const replaced: Array<{ pattern: RegExp; variable: string }> = [];
  const keep = (type: string) => (type.startsWith("oci_") && !alsoReplace.includes(type)) || type === "terraform_data";
  for (const [block, prefix] of [["resource", ""], ["data", "data."]] as const) {
    for (const type of Object.keys(json[block] ?? {})) {
      if (keep(type)) continue;
      for (const name of Object.keys(json[block][type])) {
        const variable = `${STAND_IN_PREFIX}${prefix.replace(".", "_")}${type}_${name}`;
        json.variable = { ...json.variable, [variable]: { type: "any" } };
        replaced.push({ pattern: new RegExp(`(?<![\\w.])${(prefix + type + "." + name).replace(/[.]/g, "\\.")}(?![\\w-])`, "g"), variable });
      }
      delete json[block][type];
    }
    if (json[block] && Object.keys(json[block]).length === 0) delete json[block];
  }
  for (const name of Object.keys(json.provider ?? {})) if (name !== "oci") delete json.provider[name];
  if (json.provider && Object.keys(json.provider).length === 0) delete json.provider;
  const providers = json.terraform?.required_providers ?? {};
  for (const name of Object.keys(providers)) if (name !== "oci") delete providers[name];
  const rewrite = (value: any, key?: string): any => {
    if (typeof value === "string") return replaced.reduce((text, { pattern, variable }) => text.replace(pattern, `var.${variable}`), value);
    // A stand-in is a variable, which depends_on cannot name; the dependency's values are still referenced.
    if (Array.isArray(value) && key === "depends_on") return value.filter((entry) => !replaced.some(({ pattern }) => new RegExp(pattern.source).test(entry)));
    if (Array.isArray(value)) return value.map((item) => rewrite(item));
    if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, inner]) => [k, rewrite(inner, k)]));
    return value;
  };
  return rewrite(json);
}

export interface Diagnostic {
  readonly severity: string;
  readonly summary: string;
  readonly detail?: string;
}

/**
 * `terraform validate -json` with the real oracle/oci provider on a stack (stand-ins applied first), with `files`
 * (relative path -> bytes: the stack's assets, which the provider looks for at validate time) beside it.
 */
export function validateWithRealProvider(stackJson: any, files: ReadonlyArray<[string, Buffer]> = []): { valid: boolean; diagnostics: Diagnostic[]; stderr: string } {
  const cliConfig = ociCliConfig();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-validate-"));
  try {
    fs.writeFileSync(path.join(dir, "main.tf.json"), JSON.stringify(withStandIns(stackJson), null, 2));
    for (const [name, bytes] of files) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), bytes);
    }
    const env = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };
    const run = spawnSync("terraform", ["validate", "-json", "-no-color"], { cwd: dir, env, encoding: "utf8" });
    if (!run.stdout.trim().startsWith("{")) throw new Error(`terraform validate gave no JSON (exit ${run.status}): ${run.stderr}`);
    const result = JSON.parse(run.stdout);
    return { valid: result.valid, diagnostics: result.diagnostics ?? [], stderr: run.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
