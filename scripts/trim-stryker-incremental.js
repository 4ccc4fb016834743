/**
 * `npm run mutate:trim`, after a Stryker run: drops what Stryker does not need from the committed incremental file
 * (docs/mutation/stryker-incremental.json), about half of it:
 * - each mutant's `statusReason`: jest's failure message for a killed mutant, which only the HTML report shows;
 * - a killed mutant's `coveredBy`: Stryker reuses a killed result while a test that killed it still covers it
 *   unchanged, and it reads those from `killedBy` (which it adds to the old coverage). A mutant that was not killed
 *   keeps its coverage: a test that covers it anew makes Stryker test it again.
 * Stryker reuses the trimmed results (docs/mutation.md).
 */
const fs = require("fs");

const file = process.argv[2] ?? "docs/mutation/stryker-incremental.json";
const report = JSON.parse(fs.readFileSync(file, "utf8"));
for (const { mutants } of Object.values(report.files)) {
  for (const mutant of mutants) {
    delete mutant.statusReason;
    if (mutant.status === "Killed") delete mutant.coveredBy;
  }
}
fs.writeFileSync(file, JSON.stringify(report, null, 2));
