/**
 * A manager host under a stand-in root: its node.json typed by the host contract (lib/host-contract.ts), so a key
 * the scripts no longer read does not survive in a test, and the programs its bootstrap runs, as shipped.
 */
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_TOKEN_SERVER_PORT, HostPort, ManagerNodeConfig, NODE_CONFIG_PATH, TokenServerHostConfig } from "../lib/host-contract";
import { installHostLibrary, shippedScript } from "./shipped";
import { HARDEN, SANDBOX_USAGE } from "./worker";

export const MANAGER_BOOTSTRAP = "opt/dokploy-oci/bin/manager-bootstrap.sh";
/** Beside the reconciler, whose Dokploy client it loads. */
export const MANAGER_BACKUPS = "opt/dokploy-oci/bin/backups.py";
const MANAGER_RECONCILER = "opt/dokploy-oci/bin/register-workers.py";
/** The Dokploy API steps of the bootstrap, beside the reconciler too. */
export const MANAGER_DOKPLOY_SETUP = "opt/dokploy-oci/bin/dokploy-setup.py";

/** What a test chooses; every other key is what the constructs write. */
export interface ManagerConfigOptions {
  privateIp: string;
  dokployUrl: string;
  installerUrl: string;
  admin: { email: string; password: string; name: string };
  /** Test-sized: how fast the bootstrap retries. */
  wait: ManagerNodeConfig["dokploy"]["wait"];
  /** Defaults to "latest". */
  version?: string;
  /** Defaults to the swarm's management port from the subnet. */
  hostPorts?: HostPort[];
  /** The token server's part; without it the key is left out (a test that configures the token server itself). */
  tokenServer?: Partial<TokenServerHostConfig> & Pick<TokenServerHostConfig, "secret" | "stateDir">;
}

/** The manager's node.json but `registration`, which writeRegistrationConfig adds when a test runs the reconciler. */
export type ManagerTestConfig = Omit<ManagerNodeConfig, "registration" | "tokenServer"> & { tokenServer?: TokenServerHostConfig };

export function managerNodeConfig(options: ManagerConfigOptions): ManagerTestConfig {
  return {
    role: "manager",
    privateIp: options.privateIp,
    hostPorts: options.hostPorts ?? [{ protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] }],
    blockContainerMetadata: true,
    dockerCleanup: { pruneAfterHours: 24 },
    usage: SANDBOX_USAGE,
    swarm: { defaultAddrPool: "10.20.0.0/16", defaultAddrPoolMaskLength: 24 },
    dokploy: {
      version: options.version ?? "latest",
      installerUrl: options.installerUrl,
      url: options.dokployUrl,
      adminEmail: options.admin.email,
      adminPassword: options.admin.password,
      adminName: options.admin.name,
      apiKeyName: "dokploy-oci",
      sshKeyName: "dokploy-oci-workers",
      wait: options.wait,
    },
    ...(options.tokenServer
      ? { tokenServer: { bindAddress: options.privateIp, port: DEFAULT_TOKEN_SERVER_PORT, ttlSeconds: 86400, ...options.tokenServer } }
      : {}),
  };
}

/**
 * Writes `config` as the node.json under `root` (0600) and installs the manager bootstrap, its Dokploy API steps,
 * the backups program and the reconciler they load, harden.sh and the library.
 */
export function installManager(root: string, config: object): void {
  const at = (hostPath: string) => path.join(root, hostPath);
  fs.mkdirSync(path.dirname(at(NODE_CONFIG_PATH)), { recursive: true });
  fs.writeFileSync(at(NODE_CONFIG_PATH), JSON.stringify(config, null, 2), { mode: 0o600 });
  fs.mkdirSync(path.dirname(at(MANAGER_BOOTSTRAP)), { recursive: true });
  fs.copyFileSync(shippedScript("manager/bootstrap.sh"), at(MANAGER_BOOTSTRAP));
  fs.copyFileSync(shippedScript("common/harden.sh"), at(HARDEN));
  fs.copyFileSync(shippedScript("manager/backups.py"), at(MANAGER_BACKUPS));
  fs.copyFileSync(shippedScript("manager/register-workers.py"), at(MANAGER_RECONCILER));
  fs.copyFileSync(shippedScript("manager/dokploy-setup.py"), at(MANAGER_DOKPLOY_SETUP));
  installHostLibrary(root);
}
