/**
 * Rules for prop values, each written once and used three ways: by the construct at synth time (the error names the
 * prop the user set), by the ORM variable that feeds it (a Terraform `validation` block, so `-var` users get the
 * same check), and by the host script where the host reads the same value. Patterns are written for RE2
 * (Terraform's regex) and JavaScript alike. Terraform values are skipped at synth time: their variable checks them.
 */
import { Fn, Op, Precondition, Token } from "cdktf";
import { escapeForExpression } from "./terraform-text";

/** A text rule: an anchored pattern, an optional length limit (RE2 has no lookahead to bound a pattern's whole
 * length), and what it allows, in words. */
export class TextRule {
  private readonly regex: RegExp;

  constructor(
    /** Anchored, RE2- and JavaScript-compatible. */
    public readonly pattern: string,
    /** What the rule allows, for messages: "lowercase letters, digits and dashes ...". */
    public readonly allowed: string,
    /** The most characters a value may have. @default - what the pattern allows */
    public readonly maxLength?: number,
  ) {
    this.regex = new RegExp(pattern);
  }

  public test(value: string): boolean {
    return typeof value === "string" && this.regex.test(value) && (this.maxLength === undefined || [...value].length <= this.maxLength);
  }

  /** Throws `<prop>: "<value>" is not <allowed>` unless the value matches; Terraform values pass. */
  public check(value: string, prop: string): void {
    if (Token.isUnresolved(value)) return;
    if (!this.test(value)) throw new Error(`${prop}: ${JSON.stringify(value)} is not allowed; use ${this.allowed}`);
  }

  /**
   * For a value only Terraform knows (a variable fed into a prop): the same rule as a precondition, naming the
   * prop. Its message never repeats the value, so it is safe for secrets too. Undefined for a literal (checked now).
   */
  public planTimeCheck(value: string, prop: string): Precondition | undefined {
    if (!Token.isUnresolved(value)) return undefined;
    // cdktf passes backslashes in an expression's string literal through unescaped (lib/terraform-text.ts).
    const matches = Fn.can(Fn.regex(escapeForExpression(this.pattern), value));
    const condition = this.maxLength === undefined ? matches : Op.and(matches, Op.lte(Fn.lengthOf(value), this.maxLength));
    return { condition, errorMessage: `${prop}: the value is not allowed; use ${this.allowed}.` };
  }

  /** The same rule as a Terraform bool over the expression `ref` (for a variable's validation block). */
  public terraformCondition(ref: string): string {
    const matches = `can(regex(${JSON.stringify(this.pattern)}, ${ref}))`;
    return this.maxLength === undefined ? matches : `${matches} && length(${ref}) <= ${this.maxLength}`;
  }
}

/**
 * Name prefixes end up in display names, host names and tailnet names (`<prefix>-manager`, `<prefix>-1`): a DNS
 * label's characters, short enough for the suffixes, and nothing Terraform would read as a template (`${`, `%{`).
 */
export const NAME_PREFIX = new TextRule(
  "^[a-z]([a-z0-9-]{0,19}[a-z0-9])?$",
  "1 to 21 lowercase letters, digits and dashes, starting with a letter and not ending with a dash",
);

/** Installers are downloaded and run as root: https only, a host name, no spaces, quotes or template syntax. */
export const INSTALLER_URL = new TextRule(
  "^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+=&?:@!,;*()-]*)?$",
  'an https:// URL such as "https://dokploy.com/install.sh"',
);

/**
 * Dokploy's images are tagged `latest`, `canary` and `v<major>.<minor>.<patch>` (its release workflow tags the
 * version in apps/dokploy/package.json, "v0.30.2"); its installer pulls dokploy/dokploy:<DOKPLOY_VERSION>.
 */
export const DOKPLOY_VERSION = new TextRule("^(latest|canary|v[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4})$", 'latest, canary or a release tag such as "v0.30.2"');

/**
 * Ubuntu releases the image lookup asks Canonical's images for (`operating_system_version`), the default first:
 * 24.04 is supported to 2029, 22.04's standard support ends in April 2027; 26.04 is left out while Dokploy's
 * installer pins a Docker release its repository lacks (research/dokploy.md).
 */
export const UBUNTU_VERSIONS = ["24.04", "22.04"] as const;
export type UbuntuVersion = (typeof UBUNTU_VERSIONS)[number];
export const UBUNTU_VERSION = new TextRule(`^(${UBUNTU_VERSIONS.map((version) => version.replace(".", "\\.")).join("|")})$`, `one of ${UBUNTU_VERSIONS.join(", ")}`);

/** OCI's DNS label for a VCN: a letter, then letters and digits, at most 15. */
export const DNS_LABEL = new TextRule("^[A-Za-z][A-Za-z0-9]{0,14}$", "1 to 15 letters and digits, starting with a letter");

/**
 * The admin's email reaches node.json, host logs and Dokploy's sign-up: letters, digits and `_+-` in dot-separated
 * parts before the `@` (no quotes, spaces, control characters, `$`, backticks or braces: nothing a shell or a
 * template reads), then DNS labels of at most 63 characters and a top-level domain of letters, 254 characters in
 * all (RFC 5321). Every address it allows is one Dokploy's sign-up (better-auth's zod `z.email()`) accepts.
 */
export const EMAIL = new TextRule(
  "^[A-Za-z0-9_+-]+(\\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}$",
  "an email address such as admin@example.com (letters, digits, . _ + - before the @, a domain name after it; at most 254 characters)",
  254,
);

/**
 * A swarm placement constraint as Docker's grammar has it: a node attribute (`node.id`, `node.hostname`,
 * `node.role`, `node.platform.os`, `node.platform.arch`) or label (`node.labels.<key>`, `engine.labels.<key>`), `==`
 * or `!=`, a value: "node.role==manager", "node.labels.tier != edge". Nothing else (no newline, no second clause).
 */
export const SWARM_CONSTRAINT = new TextRule(
  "^(node\\.(id|hostname|role|platform\\.os|platform\\.arch)|(node|engine)\\.labels\\.[A-Za-z0-9_.-]+) ?(==|!=) ?[A-Za-z0-9_.:/*-]+$",
  'a constraint such as "node.role==manager" or "node.labels.tier!=edge" (node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<key> or engine.labels.<key>, then == or !=, then a value of letters, digits and . _ - : / *)',
);

/** A dotted IPv4 address, no leading zeros. */
export const IPV4_ADDRESS = new TextRule(
  "^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$",
  'an IPv4 address such as "10.0.0.10"',
);

/** A Docker container, volume or network name, as Docker allows it. */
export const DOCKER_NAME = new TextRule("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$", '2 or more letters, digits, "_", "." or "-", starting with a letter or digit');

/** A Docker image reference: [registry[:port]/]repository[:tag][@sha256:digest], nothing a shell reads. */
export const IMAGE_REFERENCE = new TextRule(
  "^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[0-9]{1,5}/[a-z0-9]([a-z0-9._/-]*[a-z0-9])?)?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$",
  'an image reference such as "tailscale/tailscale:v1.102.5" or "registry.example.com:5000/ops/app@sha256:<digest>"',
);

/**
 * A cron expression of five fields (minute hour day month weekday) for Dokploy's backup schedule (node-schedule):
 * digits, `*`, `/`, `,` and `-` only.
 */
export const BACKUP_SCHEDULE = new TextRule("^[0-9*/,-]+( [0-9*/,-]+){4}$", 'a cron expression of five fields such as "0 3 * * *" (daily at 03:00 UTC)', 100);

/** An OCI region identifier as the S3 endpoint names it: "eu-frankfurt-1", "us-ashburn-1". */
export const OCI_REGION = new TextRule("^[a-z]{2,4}(-[a-z0-9]+){1,3}-[0-9]{1,2}$", 'a region identifier such as "eu-frankfurt-1"');

/** A user's OCID: ocid1.user.<realm>.[region].<unique id>. */
export const OCI_USER_ID = new TextRule("^ocid1\\.user\\.[a-z0-9]+\\.[a-z0-9-]*\\.[a-z0-9]{1,255}$", 'a user OCID such as "ocid1.user.oc1..aaaa…"');

/** Limits for a number prop; `integer` asks for a whole number. */
export interface NumberRange {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  /** The unit in messages, e.g. "seconds". */
  readonly unit?: string;
}

/**
 * Throws, naming `prop`, unless `value` is a finite number within `range` (NaN and Infinity never are); a
 * Terraform number passes (its variable checks it, see numberCondition).
 */
export function checkNumber(value: number, prop: string, range: NumberRange): void {
  if (Token.isUnresolved(value)) return;
  const ok = typeof value === "number" && Number.isFinite(value) && value >= range.min && value <= range.max && (!range.integer || Number.isInteger(value));
  if (!ok) {
    const kind = range.integer ? "a whole number" : "a number";
    throw new Error(`${prop}: ${value} is out of range; use ${kind}${range.unit ? ` of ${range.unit}` : ""} from ${range.min} to ${range.max}`);
  }
}

/** The same range as a Terraform bool over `ref`. */
export function numberCondition(ref: string, range: NumberRange): string {
  return [...(range.integer ? [`floor(${ref}) == ${ref}`] : []), `${ref} >= ${range.min}`, `${ref} <= ${range.max}`].join(" && ");
}

/**
 * A key's type, the base64 text every key of that type starts with (the type's name encoded in the key), and the
 * fewest 4-character groups that may follow it: an RSA key of 1024 bits or more, an ECDSA point on the curve.
 */
const SSH_KEY_TYPES = (
  [
    ["ssh-ed25519", 12],
    ["ssh-rsa", 45],
    ["ecdsa-sha2-nistp256", 27],
    ["ecdsa-sha2-nistp384", 38],
    ["ecdsa-sha2-nistp521", 50],
  ] as const
).map(([type, minGroups]) => {
  const header = Buffer.concat([Buffer.alloc(4), Buffer.from(type)]);
  header.writeUInt32BE(type.length, 0);
  // Only whole 3-byte groups encode to fixed text; the rest of the header shares characters with what follows.
  const fixed = header.subarray(0, header.length - (header.length % 3)).toString("base64");
  return { type, fixed, header, minGroups };
});
/** Base64 in whole 4-character groups (at least `minGroups`), padding only at the end. */
const base64Body = (minGroups: number) => `([A-Za-z0-9+/]{4}){${minGroups},}([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?`;
/** `type base64 [comment]`; an ed25519 key is exactly 51 bytes (68 characters); comments are printable ASCII. */
const SSH_KEY_PATTERN =
  "^(" +
  SSH_KEY_TYPES.map(({ type, fixed, minGroups }) => (type === "ssh-ed25519" ? `${type} ${fixed}[A-Za-z0-9+/]{48}` : `${type} ${fixed}${base64Body(minGroups)}`)).join("|") +
  ")( [ -~]*)?$";
const SSH_KEY_REGEX = new RegExp(SSH_KEY_PATTERN);

/**
 * Throws, naming `prop`, unless `key` is a whole OpenSSH public key line: a supported type, a base64 body that
 * decodes and names the same type inside, and an optional printable comment (a newline would add another key).
 */
export function checkSshPublicKey(key: string, prop: string): void {
  if (Token.isUnresolved(key)) return;
  const problem = sshKeyProblem(typeof key === "string" ? key.trim() : key);
  if (problem) throw new Error(`${prop}: not an OpenSSH public key (${problem}); expected a whole line such as "ssh-ed25519 AAAAC3Nz… me@laptop"`);
}

function sshKeyProblem(key: string): string | undefined {
  if (typeof key !== "string") return "not text";
  const [type, body] = key.split(" ");
  const known = SSH_KEY_TYPES.find((entry) => entry.type === type);
  if (!known) return `type ${JSON.stringify(type)} is not one of ${SSH_KEY_TYPES.map((entry) => entry.type).join(", ")}`;
  if (!SSH_KEY_REGEX.test(key)) return "the key body is missing, cut short or not base64, or the comment has control characters";
  const blob = Buffer.from(body, "base64");
  if (blob.length < known.header.length + 4 || !blob.subarray(0, known.header.length).equals(known.header)) {
    return `the key inside is not a ${type} key`;
  }
  return undefined;
}

/** At least one key, each a whole OpenSSH public key line; a Terraform list is checked by its variable. */
export function checkSshPublicKeys(keys: string[], prop: string): void {
  if (Token.isUnresolved(keys)) return;
  if (keys.length === 0) throw new Error(`${prop}: give at least one OpenSSH public key, or you cannot log in to the nodes`);
  keys.forEach((key, index) => checkSshPublicKey(key, `${prop}[${index}]`));
}

/** The same rule at plan time, for every key of the list expression `list`. */
export function sshKeyListCondition(list: string): string {
  return `alltrue([for k in ${list} : can(regex(${JSON.stringify(SSH_KEY_PATTERN)}, trimspace(k)))])`;
}

/** The plan-time checks of several rules, for the values among them that only Terraform knows. */
export function planTimeChecks(...checks: Array<[TextRule, string, string]>): Precondition[] {
  return checks.map(([rule, value, prop]) => rule.planTimeCheck(value, prop)).filter((check): check is Precondition => check !== undefined);
}
