/**
 * Builds a node's cloud-config: static files from templates/ (the host release's loader and its unit), one 0600
 * JSON config whose values may be Terraform tokens, and commands. The YAML comes from a YAML library; the result is
 * gzip+base64 (cloud-init detects gzip), well inside OCI's 32,000-byte metadata limit now that the host programs
 * travel as a release (lib/host-release.ts).
 */
import { Fn, Token, Tokenization } from "cdktf";
import { gzipSync } from "zlib";
import { Scalar, stringify } from "yaml";
import { joinLiteralAndTokens, jsonencodeWithTokens } from "./terraform-text";

/** OCI rejects an instance whose metadata, user_data included, is larger than this. */
export const OCI_METADATA_LIMIT_BYTES = 32000;
/**
 * What user_data must leave of the metadata limit for `ssh_authorized_keys`: three RSA-4096 keys (about 740 bytes
 * each with a short comment, 2,222 with the newlines) or dozens of ed25519 ones. The real keys are checked against
 * the room really left (createNodeInstance); with the programs in the host release, that room is over 24,000 bytes.
 */
export const SSH_KEYS_RESERVE_BYTES = 2250;
/** Terraform's base64gzip compresses with Go's default level; estimates use the same. */
const TERRAFORM_GZIP_LEVEL = 6;

export interface CloudConfigFile {
  readonly path: string;
  readonly content: string;
  /** Octal mode as a string; YAML would read an unquoted 0600 as a number. */
  readonly permissions: string;
}

export interface CloudConfigProps {
  /** Where the node's JSON config lands (mode 0600). */
  readonly configPath: string;
  /**
   * The node's config; strings may be Terraform tokens, resolved at apply time. A function is called each time the
   * config is rendered (at synth), so values declared after construction (a port opened later) are included.
   */
  readonly config: object | (() => object);
  /** Files whose text is known at synth time (scripts, units). */
  readonly files: ReadonlyArray<CloudConfigFile>;
  /**
   * Files whose content is a Terraform value (a key, a secret): Terraform base64-encodes each into the YAML.
   * @default - none
   */
  readonly terraformFiles?: ReadonlyArray<CloudConfigFile>;
  /**
   * Commands run early at every boot, before cloud-init writes files (cloud-init's bootcmd).
   * @default - none
   */
  readonly bootCommands?: ReadonlyArray<ReadonlyArray<string>>;
  /** Commands run once, at the end of the first boot. */
  readonly runCommands: ReadonlyArray<ReadonlyArray<string>>;
}

/** Stands in for the base64 of Terraform-filled file i until Terraform fills it in; base64 never contains it. */
const placeholder = (index: number) => `DOKPLOY_OCI_FILE_${index}_B64`;

export class CloudConfig {
  constructor(private readonly props: CloudConfigProps) {}

  /** node.json as it is now (tokens unresolved): what the node will read. */
  public nodeConfig(): Record<string, any> {
    return (typeof this.props.config === "function" ? this.props.config() : this.props.config) as Record<string, any>;
  }

  /**
   * The cloud-config YAML. Terraform-filled files (node.json first) hold placeholders, or the base64 `fill`
   * returns for each (tests and size estimates).
   */
  public renderYaml(fill: (index: number) => string = placeholder): string {
    const document = {
      // Key-only SSH even before the bootstrap's own hardening runs.
      ssh_pwauth: false,
      disable_root: true,
      ...(this.props.bootCommands?.length ? { bootcmd: this.props.bootCommands.map((command) => [...command]) } : {}),
      write_files: [
        ...this.terraformFiles().map((file, index) => ({
          path: file.path,
          permissions: file.permissions,
          owner: "root:root",
          encoding: "b64",
          // Quoted: an empty value (e.g. Tailscale's key when Tailscale is off) must stay "" and never become a
          // YAML null, which cloud-init before 24.3 crashes on.
          content: doubleQuoted(fill(index)),
        })),
        ...this.props.files.map((file) => ({ path: file.path, permissions: file.permissions, owner: "root:root", content: file.content })),
      ],
      runcmd: this.props.runCommands.map((command) => [...command]),
    };
    return "#cloud-config\n" + stringify(document, { lineWidth: 0 });
  }

  /** Terraform value for `metadata.user_data`: gzip+base64 of the YAML with every Terraform-filled file in place. */
  public renderUserData(): string {
    const parts: string[] = [];
    let rest = this.renderYaml();
    this.terraformFiles().forEach((file, index) => {
      const [before, after] = rest.split(placeholder(index));
      parts.push(before, Fn.base64encode(Token.isUnresolved(file.content) ? joinLiteralAndTokens([file.content]) : file.content));
      rest = after;
    });
    return Fn.base64gzip(joinLiteralAndTokens([...parts, rest]));
  }

  /**
   * Size of user_data in bytes (base64), with each Terraform value stood in for by 64 random-looking characters
   * (a secret's length): what OCI will see, give or take gzip's choices.
   */
  public estimateUserDataBytes(): number {
    const samples = [JSON.stringify(withSampleValues(this.nodeConfig())), ...(this.props.terraformFiles ?? []).map((file) => withSampleValues(file.content) as string)];
    const yaml = this.renderYaml((index) => Buffer.from(samples[index]).toString("base64"));
    return gzipSync(Buffer.from(yaml), { level: TERRAFORM_GZIP_LEVEL }).toString("base64").length;
  }

  /** node.json, then the other Terraform-filled files. */
  private terraformFiles(): CloudConfigFile[] {
    return [
      { path: this.props.configPath, permissions: "0600", content: jsonencodeWithTokens(this.nodeConfig()) },
      ...(this.props.terraformFiles ?? []),
    ];
  }
}

function doubleQuoted(value: string): Scalar {
  const scalar = new Scalar(value);
  scalar.type = Scalar.QUOTE_DOUBLE;
  return scalar;
}

function withSampleValues(value: unknown): unknown {
  // Text around a value (a file's lines) is kept: only the value is stood in for.
  if (typeof value === "string" && Token.isUnresolved(value)) {
    const fragments = Tokenization.reverseString(value);
    if (fragments.literals.length > 0) return fragments.literals.join("") + fragments.tokens.map((token) => withSampleValues(Token.asString(token))).join("");
  }
  if (Token.isUnresolved(value)) return Buffer.from(JSON.stringify(value)).toString("base64").padEnd(64, "x").slice(0, 64);
  if (Array.isArray(value)) return value.map(withSampleValues);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, withSampleValues(inner)]));
  }
  return value;
}
