/**
 * npm pack / npm publish take package.json as it is on disk. Around a pack, this swaps in the manifest a consumer
 * should see (no scripts such as `prepare`, which would run `npm run gen` in the consumer's install; no
 * devDependencies) and puts the developer's back afterwards.
 *   prepack:  ts-node scripts/pack-manifest.ts consumer   (after the build)
 *   postpack: ts-node scripts/pack-manifest.ts restore
 * A pack that died half-way left the developer's manifest in .package.dev.json: the next run restores it first.
 */
import * as fs from "fs";
import * as path from "path";

const ROOT = path.join(__dirname, "..");
const MANIFEST = path.join(ROOT, "package.json");
const SAVED = path.join(ROOT, ".package.dev.json");

/** Fields a consumer's npm reads; everything else (scripts, devDependencies) stays in the repo. */
const CONSUMER_FIELDS = [
  "name", "version", "description", "license", "keywords", "repository", "main", "types", "typesVersions", "exports", "files",
  "engines", "peerDependencies", "dependencies",
];

export function consumerManifest(manifest: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(CONSUMER_FIELDS.filter((field) => manifest[field] !== undefined).map((field) => [field, manifest[field]]));
}

function restore(): void {
  if (!fs.existsSync(SAVED)) return;
  fs.renameSync(SAVED, MANIFEST);
}

function main(mode: string | undefined): void {
  if (mode === "restore") return restore();
  if (mode !== "consumer") throw new Error("usage: pack-manifest (consumer | restore)");
  restore();
  const text = fs.readFileSync(MANIFEST, "utf8");
  fs.writeFileSync(SAVED, text);
  fs.writeFileSync(MANIFEST, JSON.stringify(consumerManifest(JSON.parse(text)), null, 2) + "\n");
}

if (require.main === module) main(process.argv[2]);
