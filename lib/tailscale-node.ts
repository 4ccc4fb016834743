/**
 * Tailscale on an OCI node, host side: the node.json `tailscale` section templates/common/tailscale-up.sh (in the
 * host release, started when the section is there) reads, and the 0600 key file it expects (docs/host-contract.md, "Tailscale").
 */
import { Fn, IResolvable, Op, Precondition, Token } from "cdktf";
import { CloudConfigFile } from "./cloud-init";
import { authKeyForServers, authKeyPreconditions, validateAuthKey, validateTags, validateTailnetHostname } from "./tailscale";
import { DEFAULT_TAILSCALE_INSTALLER_URL, TAILSCALE_KEY_FILE } from "./host-contract";
import { INSTALLER_URL } from "./rules";

export interface TailscaleNodeOptions {
  /**
   * An auth key (`tskey-auth-…`) or an OAuth client secret (`tskey-client-…`, which needs `tags`), as a sensitive
   * Terraform value; a literal is refused.
   */
  readonly authKey: string;
  /**
   * ACL tags for the node (`--advertise-tags`), each `tag:<name>`; may be a Terraform list (the ORM form).
   * @default - none
   */
  readonly tags?: string[];
  /**
   * Tailscale SSH (`--ssh`): SSH over the tailnet, authorized by the tailnet policy.
   * @default - false
   */
  readonly ssh?: boolean | IResolvable;
  /**
   * Where the node downloads Tailscale's installer (it adds Tailscale's package repository and installs the
   * package); https only, it runs as root.
   * @default - "https://tailscale.com/install.sh"
   */
  readonly installerUrl?: string;
  /**
   * Whether the node joins; a Terraform bool decides at plan time (the ORM form's key is optional).
   * @default - true
   */
  readonly enabled?: boolean | IResolvable;
}

/** node.json's `tailscale` key. */
export interface TailscaleNodeSection {
  readonly enabled: boolean | IResolvable;
  readonly authKeyFile: string;
  readonly hostname: string;
  readonly tags: string[];
  readonly ssh: boolean | IResolvable;
  readonly installerUrl: string;
  readonly retry: { readonly delaySeconds: number; readonly maxDelaySeconds: number };
}

export interface TailscaleHostConfig {
  /** The value for node.json's `tailscale` key. */
  readonly config: TailscaleNodeSection;
  /**
   * The auth key file (mode 0600). Its content is a sensitive Terraform value, so it cannot travel as a literal
   * file: write it the way node.json is written (base64 filled in by Terraform).
   */
  readonly keyFile: CloudConfigFile;
  /** Plan-time checks of the key, for the instance's `lifecycle.precondition`. */
  readonly preconditions: Precondition[];
}

/**
 * Everything a node needs to join the tailnet as `hostname` (a DNS label, or a Terraform value such as a pool's
 * per-instance name). `prop` names the option in error messages.
 */
export function tailscaleHostConfig(options: TailscaleNodeOptions, hostname: string, prop = "tailscale"): TailscaleHostConfig {
  const tags = options.tags ?? [];
  validateTags(tags, `${prop}.tags`, true);
  validateAuthKey(options.authKey, tags, `${prop}.authKey`, `${prop}.tags`);
  validateTailnetHostname(hostname, `${prop} hostname`);
  const installerUrl = options.installerUrl ?? DEFAULT_TAILSCALE_INSTALLER_URL;
  INSTALLER_URL.check(installerUrl, `${prop}.installerUrl`);
  const enabled = options.enabled ?? true;
  // `>= 1`: cdktf 0.21 renders a literal 0 in an operator as `undefined`.
  const hasTags = Token.isUnresolved(tags) ? Op.gte(Fn.lengthOf(tags), 1) : tags.length > 0;
  const keyChecks = authKeyPreconditions(options.authKey, hasTags, `${prop}.authKey`, `${prop}.tags`);
  return {
    config: {
      enabled,
      authKeyFile: TAILSCALE_KEY_FILE,
      hostname,
      tags,
      ssh: options.ssh ?? false,
      installerUrl,
      retry: { delaySeconds: 5, maxDelaySeconds: 60 },
    },
    keyFile: { path: TAILSCALE_KEY_FILE, content: authKeyForServers(options.authKey), permissions: "0600" },
    preconditions:
      enabled === true ? keyChecks : keyChecks.map((check) => ({ ...check, condition: Op.or(Op.not(enabled), check.condition) })),
  };
}
