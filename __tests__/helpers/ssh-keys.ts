/**
 * Real OpenSSH public key lines from freshly generated key pairs, encoded here from Node's crypto (RFC 4253 and
 * RFC 5656 wire format), independently of the library's validator.
 */
import { generateKeyPairSync } from "crypto";

function sshString(data: Buffer | string): Buffer {
  const body = Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}
/** An mpint: big-endian, with a leading zero byte when the top bit is set. */
const mpint = (bytes: Buffer) => sshString(bytes[0] & 0x80 ? Buffer.concat([Buffer.alloc(1), bytes]) : bytes);
const fromBase64Url = (text: string) => Buffer.from(text, "base64url");

export type SshKeyKind = "ed25519" | "rsa-2048" | "rsa-4096" | "ecdsa-256" | "ecdsa-521";

export function openSshPublicKey(kind: SshKeyKind, comment?: string): string {
  const line = (type: string, blob: Buffer) => [type, blob.toString("base64"), ...(comment ? [comment] : [])].join(" ");
  if (kind === "ed25519") {
    const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
    return line("ssh-ed25519", Buffer.concat([sshString("ssh-ed25519"), sshString(raw)]));
  }
  if (kind === "rsa-2048" || kind === "rsa-4096") {
    const jwk = generateKeyPairSync("rsa", { modulusLength: kind === "rsa-2048" ? 2048 : 4096 }).publicKey.export({ format: "jwk" });
    return line("ssh-rsa", Buffer.concat([sshString("ssh-rsa"), mpint(fromBase64Url(jwk.e!)), mpint(fromBase64Url(jwk.n!))]));
  }
  const [curve, name] = kind === "ecdsa-256" ? ["P-256", "nistp256"] : ["P-521", "nistp521"];
  const jwk = generateKeyPairSync("ec", { namedCurve: curve }).publicKey.export({ format: "jwk" });
  const point = Buffer.concat([Buffer.from([4]), fromBase64Url(jwk.x!), fromBase64Url(jwk.y!)]);
  return line(`ecdsa-sha2-${name}`, Buffer.concat([sshString(`ecdsa-sha2-${name}`), sshString(name), sshString(point)]));
}
