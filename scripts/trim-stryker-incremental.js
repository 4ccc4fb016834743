/**
 * `npm run mutate:trim`, after a Stryker run: drops each mutant's `statusReason` from the committed incremental file
 * (docs/mutation/stryker-incremental.json). It is jest's failure message for a killed mutant, which only the HTML
 * report shows, and two thirds of the file; Stryker reuses a result without it (docs/mutation.md).
 */
const fs = require("fs");

const file = process.argv[2] ?? "docs/mutation/stryker-incremental.json";
const report = JSON.parse(fs.readFileSync(file, "utf8"));
for (const { mutants } of Object.values(report.files)) for (const mutant of mutants) delete mutant.statusReason;
fs.writeFileSync(file, JSON.stringify(report, null, 2));
