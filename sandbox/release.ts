/**
 * A node's host release under a stand-in root: node.json's `release` section and release.conf (what the loader
 * reads, rendered as the stack renders it: lib/host-release.ts loaderConfigText), the loader as user_data carries
 * it, and releases built like the stack builds them (lib/host-release.ts), with files changed on purpose (a release B
 * whose token server differs, a release C whose token server cannot start). `systemctl` is release-stubs' (it runs
 * the supervised units for real), then host-stubs' commands.
 */
import * as fs from "fs";
import * as path from "path";
import { NODE_CONFIG_PATH } from "../lib/host-contract";
import {
  HostReleaseArtifact,
  LOADER_CONFIG_PATH,
  LOADER_PATH,
  RELEASE_TAG_KEY,
  ReleaseEntry,
  ReleaseNodeConfig,
  buildRelease,
  loaderConfigText,
  releaseEntries,
} from "../lib/host-release";
import { shippedScript } from "./shipped";
import { HOST_STUBS, Running, start } from "./worker";

export const RELEASE_STUBS = path.join(__dirname, "release-stubs");
export const STATE_FILE = "var/lib/dokploy-oci/release.json";
/** Every node's metadata bytes as the real terraform renders them: written by real-user-data.test.ts, quoted by the bench. */
export const METADATA_SIZES_FILE = path.join(__dirname, "..", "dist", "metadata-sizes.json");
export { RELEASE_TAG_KEY };

/** The templates' release with `changes` (archive path -> new content, or a function of the shipped one). */
export function releaseWith(changes: Record<string, string | ((shipped: string) => string)> = {}): HostReleaseArtifact {
  const shipped = releaseEntries();
  const entries: ReleaseEntry[] = shipped.map((entry) => {
    const change = changes[entry.path];
    return change === undefined ? entry : { ...entry, content: typeof change === "function" ? change(entry.content) : change };
  });
  // A path the release does not ship is a new file (a unit a later release adds).
  for (const [file, content] of Object.entries(changes)) {
    if (!shipped.some((entry) => entry.path === file)) entries.push({ path: file, content: typeof content === "function" ? content("") : content, mode: 0o644 });
  }
  return buildRelease(entries);
}

/** The release a node installs first (release.conf's sha256) and the values of node.json's `release` the tests size. */
export interface ReleaseSection {
  sha256: string;
  url: string;
  instanceMetadataUrl: string;
  /** Test-sized: how often the agent reads the tag, how long a health check may take. */
  intervalSeconds: number;
  healthSeconds: number;
}

/**
 * Adds node.json's `release` section (keeping the other keys), writes release.conf from it, the node's role and the
 * release's sha256, and installs the loader, as cloud-init does.
 */
export function installLoader(root: string, release: ReleaseSection): void {
  const configPath = path.join(root, NODE_CONFIG_PATH);
  const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
  const { sha256, ...section } = release;
  config.release = { maxBytes: 8388608, downloadTimeoutSeconds: 20, tag: RELEASE_TAG_KEY, ...section } satisfies ReleaseNodeConfig;
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  fs.writeFileSync(path.join(root, LOADER_CONFIG_PATH), loaderConfigText(config.role, sha256, config.release), { mode: 0o600 });
  fs.mkdirSync(path.dirname(path.join(root, LOADER_PATH)), { recursive: true });
  fs.copyFileSync(shippedScript("common/loader.sh"), path.join(root, LOADER_PATH));
}

/** The environment of the loader and the agent on the host at `root`; `supervise` lists the units run for real. */
export function releaseEnv(root: string, supervise: string[], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${RELEASE_STUBS}:${HOST_STUBS}:${process.env.PATH}`,
    DOKPLOY_OCI_ROOT: root,
    TMPDIR: path.join(root, "tmp"),
    STUB_SUPERVISE: supervise.join(" "),
    ...extra,
  };
}

export function runLoader(root: string, env: NodeJS.ProcessEnv): Running {
  return start("bash", [path.join(root, LOADER_PATH)], env);
}

/** `release-agent.py <args>` of the release now current on the host. */
export function runAgent(root: string, args: string[], env: NodeJS.ProcessEnv): Running {
  return start("python3", [path.join(root, "opt/dokploy-oci/bin/release-agent.py"), ...args], env);
}

/** The release `current` points at (its sha256), or undefined before the first one. */
export function currentRelease(root: string): string | undefined {
  const link = path.join(root, "opt/dokploy-oci/current");
  return fs.existsSync(link) ? path.basename(fs.readlinkSync(link)) : undefined;
}

export function releaseState(root: string): { current: string | null; previous: string | null; switching: unknown; failed: string[] } | undefined {
  const file = path.join(root, STATE_FILE);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
}

/** The pid of a unit the stub runs for real (undefined when it is not running). */
export function unitPid(root: string, unit: string): number | undefined {
  const file = path.join(root, ".stub-state/systemctl", `${unit}.pid`);
  return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8")) : undefined;
}
