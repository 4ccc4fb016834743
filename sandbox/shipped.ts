/**
 * The host scripts as they are shipped in user_data (lib/templates.ts readHostFile), written to files so the
 * behaviour tests run exactly what lands on a node.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HOST_LIBRARY_PATH, NODE_CONFIG_READER_PATH } from "../lib/host-contract";
import { readHostFile } from "../lib/templates";

/** Path of the shipped text of `templates/<relativePath>`, executable; the same path while the text is the same. */
export function shippedScript(relativePath: string): string {
  const text = readHostFile(relativePath);
  const digest = createHash("sha256").update(text).digest("hex").slice(0, 16);
  const file = path.join(os.tmpdir(), "dokploy-oci-shipped", digest, path.basename(relativePath));
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}`;
    fs.writeFileSync(partial, text, { mode: 0o755 });
    fs.renameSync(partial, file);
  }
  return file;
}

/** Writes the release's lib/ (the shell library the host scripts source and its node.json reader) under a test's stand-in root. */
export function installHostLibrary(root: string): void {
  for (const [hostPath, template] of [[HOST_LIBRARY_PATH, "common/host-lib.sh"], [NODE_CONFIG_READER_PATH, "common/node-config.py"]]) {
    const file = path.join(root, hostPath);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, readHostFile(template), { mode: 0o644 });
  }
}
