/**
 * Checks shared by TailscaleSidecar and the nodes' `tailscale` option (lib/tailscale-node.ts): auth keys, tags and
 * hostnames, at synth time for literals and at plan time for Terraform values. Facts: research/security.md,
 * "Tailscale in containers".
 */
import { Fn, IResolvable, Op, Precondition, Token } from "cdktf";

const TAG_PATTERN = /^tag:[A-Za-z][A-Za-z0-9-]*$/;
const HOSTNAME_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Attributes for an OAuth client secret used as an auth key: a server must survive going offline (Tailscale's
 * default for these is ephemeral=true) and must not wait for approval in the admin console.
 */
const OAUTH_SERVER_ATTRIBUTES = "?ephemeral=false&preauthorized=true";

const KEY_SHAPE = 'a Tailscale auth key starts with "tskey-" ("tskey-auth-…", or an OAuth client secret "tskey-client-…")';

/**
 * The auth key must reach Terraform as a value it already treats as secret (a sensitive variable, a secret store
 * lookup): a literal would sit in plain text in the synthesized JSON. A literal's shape is still checked first, so
 * a typo gets a message about the typo. Messages never repeat the value.
 */
export function validateAuthKey(key: string, tags: ReadonlyArray<string>, keyProp: string, tagsProp: string): void {
  if (Token.isUnresolved(key)) return;
  if (!key.startsWith("tskey-")) throw new Error(`${keyProp}: not a Tailscale auth key; ${KEY_SHAPE} (the value is not repeated here)`);
  if (key.startsWith("tskey-client-") && tags.length === 0) throw new Error(oauthNeedsTags(keyProp, tagsProp));
  throw new Error(
    `${keyProp}: a literal auth key would be written in plain text into the synthesized Terraform JSON; pass a sensitive ` +
      'Terraform value instead, e.g. new TerraformVariable(this, "tailscale_auth_key", { type: "string", sensitive: true }).stringValue',
  );
}

/**
 * The same checks for a key only Terraform knows, as preconditions for the resource that uses it. `hasTags` may be
 * a Terraform bool when the tags themselves come from Terraform.
 */
export function authKeyPreconditions(key: string, hasTags: boolean | IResolvable, keyProp: string, tagsProp: string): Precondition[] {
  const checks: Precondition[] = [{ condition: matches(key, "^tskey-"), errorMessage: `${keyProp}: not a Tailscale auth key; ${KEY_SHAPE}.` }];
  if (hasTags === true) return checks;
  const notOauth = Op.not(matches(key, "^tskey-client-"));
  checks.push({ condition: hasTags === false ? notOauth : Op.or(hasTags, notOauth), errorMessage: oauthNeedsTags(keyProp, tagsProp) });
  return checks;
}

/**
 * The key as Tailscale should receive it: an OAuth client secret without attributes gets OAUTH_SERVER_ATTRIBUTES
 * appended; anything else is unchanged. A Terraform expression, marked sensitive whatever the source was.
 */
export function authKeyForServers(key: string): string {
  const withoutAttributes = matches(key, "^tskey-client-[^?]*$");
  return Token.asString(Fn.sensitive(Fn.conditional(withoutAttributes, Fn.join("", [key, OAUTH_SERVER_ATTRIBUTES]), key)));
}

/** A Terraform bool: whether `pattern` matches `key` (regex() fails on no match; can() turns that into false). */
function matches(key: string, pattern: string): any {
  return Fn.can(Fn.regex(pattern, key));
}

function oauthNeedsTags(keyProp: string, tagsProp: string): string {
  return `${keyProp}: an OAuth client secret (tskey-client-…) can only register tagged nodes; give ${tagsProp} (e.g. ["tag:dokploy"]) that the OAuth client may assign.`;
}

/**
 * Each tag is `tag:<name>`: a letter, then letters, digits and dashes. Terraform values are left to Tailscale; a
 * whole list as a Terraform value is accepted only where the caller can use one (`allowTerraformList`).
 */
export function validateTags(tags: ReadonlyArray<string>, prop: string, allowTerraformList = false): void {
  if (Token.isUnresolved(tags)) {
    if (allowTerraformList) return;
    throw new Error(`${prop}: give the list itself in code (its items may be Terraform values)`);
  }
  tags.forEach((tag, index) => {
    if (!Token.isUnresolved(tag) && !TAG_PATTERN.test(tag)) {
      throw new Error(`${prop}[${index}]: "${tag}" is not a Tailscale tag; write it as tag:<name> (a letter, then letters, digits, dashes), e.g. "tag:dokploy"`);
    }
  });
}

/** A DNS label: the node's name on the tailnet and in MagicDNS. */
export function validateTailnetHostname(hostname: string, prop: string): void {
  if (!Token.isUnresolved(hostname) && !HOSTNAME_PATTERN.test(hostname)) {
    throw new Error(`${prop}: "${hostname}" is not a valid tailnet hostname (1 to 63 letters, digits and dashes, not starting or ending with a dash)`);
  }
}
