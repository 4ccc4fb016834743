/** Files that land on hosts live in templates/ as real files; this finds them from source and from dist/. */
import * as fs from "fs";
import * as path from "path";

let cachedRoot: string | undefined;

/** The package's root directory, found by walking up to the package.json named dokploy-oci. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "dokploy-oci") {
      cachedRoot = dir;
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find the dokploy-oci package root above ${__dirname}`);
  }
}

export function templatePath(relativePath: string): string {
  return path.join(packageRoot(), "templates", relativePath);
}

export function readTemplate(relativePath: string): string {
  return fs.readFileSync(templatePath(relativePath), "utf8");
}
