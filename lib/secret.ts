/** Generated secrets with a minimum length, marked sensitive (seed 002: SECRET_KEY/JWT_SECRET_KEY >= 32). */
import { Token } from "cdktf";
import { Construct } from "constructs";
import { Password } from "@cdktf/provider-random/lib/password";
import { ensureRandomProvider } from "./providers";

export const MIN_SECRET_LENGTH = 32;

export interface StrongSecretProps {
  /**
   * Characters to generate.
   * @default - 64 (about 380 bits from letters and digits)
   */
  readonly length?: number;
  /**
   * Shortest length accepted, generated or supplied.
   * @default - 32
   */
  readonly minLength?: number;
  /**
   * A value the user supplies instead; checked against minLength when known at synth time.
   * @default - generated
   */
  readonly value?: string;
  /** Name of the prop the value came from, for error messages. @default - "value" */
  readonly propName?: string;
}

/** A random letters-and-digits secret (safe in URLs, headers and shell words), or a supplied one checked for length. */
export class StrongSecret extends Construct {
  /** The secret (a sensitive Terraform value when generated). */
  public readonly value: string;

  constructor(scope: Construct, id: string, props: StrongSecretProps = {}) {
    super(scope, id);
    const minLength = props.minLength ?? MIN_SECRET_LENGTH;
    const length = props.length ?? 64;
    if (length < minLength) throw new Error(`length: ${length} is shorter than the minimum of ${minLength} characters`);
    if (props.value !== undefined) {
      if (!Token.isUnresolved(props.value) && props.value.length < minLength) {
        throw new Error(`${props.propName ?? "value"}: the secret must be at least ${minLength} characters (got ${props.value.length})`);
      }
      this.value = props.value;
      return;
    }
    ensureRandomProvider(this);
    this.value = new Password(this, "Resource", { length, special: false, minLower: 1, minUpper: 1, minNumeric: 1 }).result;
  }
}
