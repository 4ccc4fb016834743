/**
 * Terraform reads every string in .tf.json as a template, so literal text (bash, YAML, JSON) must be escaped
 * before it reaches the JSON. Two contexts differ:
 * - a plain attribute string: only the template markers `${` and `%{` need escaping;
 * - a string literal inside an expression (an argument of Fn.join, a value in Fn.jsonencode): cdktf 0.21 escapes
 *   `${` and newlines itself but passes quotes, backslashes, `%{` and other control characters through, which
 *   would break the HCL or change the text, so those are escaped here.
 * The round-trip test with the real terraform binary (__tests__/unit/terraform-text.test.ts) holds both to
 * byte-exact output.
 */
import { Fn, Token, Tokenization } from "cdktf";

/** Literal text -> a plain attribute string that Terraform evaluates back to exactly that text. */
export function escapeTerraformTemplate(text: string): string {
  // Callbacks, because "$$" in a replacement string would collapse to "$".
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

const EXPRESSION_ESCAPES: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\r": "\\r", "\t": "\\t" };

/** Literal text -> a string literal for use inside a cdktf expression (Fn.join, Fn.jsonencode, ...). */
export function escapeForExpression(text: string): string {
  return text
    .replace(/[\\"\r\t]/g, (char) => EXPRESSION_ESCAPES[char])
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replace(/%\{/g, () => "%%{");
}

/**
 * Joins literal text pieces and Terraform values into one Terraform string: literals are escaped, tokens (IPs,
 * secrets, lookups) are left for Terraform to resolve.
 */
export function joinLiteralAndTokens(parts: ReadonlyArray<string>): string {
  const pieces = parts.flatMap(splitAroundValues).filter((part) => part !== "");
  if (pieces.every((part) => !Token.isUnresolved(part))) return escapeTerraformTemplate(pieces.join(""));
  if (pieces.length === 1) return pieces[0];
  return Fn.join("", pieces.map((part) => (Token.isUnresolved(part) ? part : escapeForExpression(part))));
}

/**
 * Text with Terraform values inside (`url=${token}`) -> its literal pieces and values, in order. Such text passed
 * whole to a function (Fn.base64encode) would reach Terraform as a template inside a string literal, which cdktf
 * warns "may be incorrect" about.
 */
function splitAroundValues(text: string): string[] {
  const fragments = Tokenization.reverseString(text);
  if (fragments.length < 2) return [text];
  const pieces: string[] = [];
  // The public way to walk the fragments in order: join calls this with each next one.
  fragments.join({
    join: (left: string, right: string) => {
      if (pieces.length === 0) pieces.push(left);
      pieces.push(right);
      return left;
    },
  });
  return pieces;
}

/** A JSON-compatible value whose strings may be tokens -> Fn.jsonencode of it with every literal string escaped. */
export function jsonencodeWithTokens(value: unknown): string {
  return Fn.jsonencode(escapeLiterals(value));
}

function escapeLiterals(value: unknown): unknown {
  if (typeof value === "string") return Token.isUnresolved(value) ? value : escapeForExpression(value);
  if (Array.isArray(value)) return value.map(escapeLiterals);
  if (value !== null && typeof value === "object" && !Token.isUnresolved(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, escapeLiterals(inner)]));
  }
  return value;
}
