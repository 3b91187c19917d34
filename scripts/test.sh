#!/usr/bin/env bash
# Runs every check: setup (idempotent), typecheck/build, lint, and all test suites.
# Under REQUIRE_ORACLES=1 (CI) a test whose oracle is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
PNPM=(pnpm)
[ "$(pnpm --version 2>/dev/null || true)" = "$PNPM_VERSION" ] || PNPM=(npx -y "pnpm@$PNPM_VERSION")

echo "== lint"
"${PNPM[@]}" run -s lint
echo "== tests"
mkdir -p test-results
status=0
"${PNPM[@]}" exec vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json || status=$?
node -e '
  const r = require("./test-results/vitest.json");
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
' || status=1
echo "== benchmarks (smoke: --quick)"
node bench/run.mjs --quick > test-results/bench-quick.log 2>&1 || { tail -20 test-results/bench-quick.log; echo "bench --quick failed"; status=1; }
tail -3 test-results/bench-quick.log
echo "== publishing: publint, attw, pack-and-install of every public package, publish dry run"
node scripts/pack-check.mjs || status=1
node bench/bundle.mjs || status=1
"${PNPM[@]}" exec changeset status > test-results/changeset-status.log 2>&1 || { cat test-results/changeset-status.log; echo "changeset status failed"; status=1; }
grep -c "^🦋  - @bpf" test-results/changeset-status.log | xargs -I{} echo "changesets: {} packages would be released by changeset version"
node scripts/release-dry-run.mjs || { echo "release dry run (changeset version on a scratch copy) failed"; status=1; }

"${PNPM[@]}" -r publish --dry-run --no-git-checks --report-summary >/dev/null 2>&1 || { echo "pnpm publish --dry-run failed"; status=1; }
[ -f pnpm-publish-summary.json ] && node -e 'const s=require("./pnpm-publish-summary.json");console.log("would publish: "+s.publishedPackages.map(p=>p.name+"@"+p.version).join(", "))' && rm -f pnpm-publish-summary.json
exit $status
