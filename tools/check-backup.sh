#!/usr/bin/env bash
# tools/check-backup.sh [BUILD] - backup and restore, end to end, with the
# real binary (BUILD/troupe, default build) and the private Postgres.
#
# A fresh database (its own name on the cluster of TROUPE_TEST_DATABASE_URL,
# else of tools/pg.sh; dropped at the end) and a temporary data_dir:
#   troupe runs; a user registers and uploads a document; `troupe backup`
#   runs WHILE troupe serves (and a second one during a burst of uploads);
#   then things change (a second document, the first deleted, a second
#   user); a restore under the running troupe and a second `troupe run` on
#   the same data_dir are refused (the data_dir lock); troupe stops; restore
#   without --yes changes nothing; damaged backups (a flipped byte, a short
#   file, a missing or newer-format manifest) are refused naming the file;
#   restore --yes; troupe starts again and the state is the backup instant:
#   the user logs in, the first document is back byte for byte and found by
#   search, the second is gone, the second user does not exist.
# Also: pg_dump missing from PATH, a file size limit (disk full), an
# unusable backup directory, --keep retention, and that no output ever
# shows the database password.
#
# CHECK_BACKUP_DOCS=N adds N small documents before the backup and prints
# the backup and restore times (the numbers in docs/backup.md).
# Exit status: 0 all good, 1 a check failed, 2 a tool is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) bin="$build/troupe" ;; *) bin="$root/$build/troupe" ;; esac
[ -x "$bin" ] || { echo "check-backup: $bin not built" >&2; exit 2; }
for t in pg_dump pg_restore createdb dropdb psql curl python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "check-backup: $t not found (Debian: postgresql-client, curl, python3)" >&2; exit 2; }
done
py=$(command -v python3)
extra_docs=${CHECK_BACKUP_DOCS:-0}

fails=0
step() { echo "== $*"; }
ok() { echo "   ok: $*"; }
bad() { echo "   FAIL: $*" >&2; fails=$((fails + 1)); }
check() { # check "what" command... : the command must succeed
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

# ---- a database of our own on the private cluster ----
base_url=${TROUPE_TEST_DATABASE_URL:-}
if [ -z "$base_url" ]; then
  "$root/tools/pg.sh" start >/dev/null
  base_url=$("$root/tools/pg.sh" url)
fi
# PGHOST/PGPORT/PGUSER/PGPASSWORD for createdb/dropdb/psql (no password in argv)
eval "$("$py" - "$base_url" <<'PY'
import shlex, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
for k, v in (("PGHOST", u.hostname), ("PGPORT", u.port), ("PGUSER", u.username),
             ("PGPASSWORD", urllib.parse.unquote(u.password or ""))):
    if v:
        print("export %s=%s" % (k, shlex.quote(str(v))))
PY
)"
password=${PGPASSWORD:-}
dbname="troupe_bk_$$_$RANDOM"
db_url=$("$py" -c 'import sys, urllib.parse as p; u = p.urlsplit(sys.argv[1]); print(p.urlunsplit(u._replace(path="/" + sys.argv[2])))' "$base_url" "$dbname")

tmp=$(mktemp -d /tmp/troupe-check-backup-XXXXXX)
pid=""
stops=0
stop_troupe() { # a clean stop is exit 0 (under ASan: also no leak at exit)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    pid=""
    stops=$((stops + 1))
    [ "$st" = 0 ] || { echo "   FAIL: troupe run exited $st after SIGTERM" >&2; fails=$((fails + 1)); }
  fi
}
cleanup() {
  stop_troupe
  [ -n "${burst_pid:-}" ] && kill "$burst_pid" 2>/dev/null || true
  dropdb --if-exists "$dbname" 2>/dev/null || true
  dropdb --if-exists "${dbname}_dr" 2>/dev/null || true
  rm -rf "$tmp"
  return 0
}
trap cleanup EXIT
createdb "$dbname"

# the binary sees only what we set: no TROUPE_* from the caller's shell
unset $(env | sed -n 's/^\(TROUPE_[A-Z0-9_]*\)=.*/\1/p') 2>/dev/null || true
export TROUPE_DATABASE_URL=$db_url TROUPE_DATA_DIR=$tmp/data TROUPE_LOG_LEVEL=warn \
  TROUPE_JWT_SECRET=check-backup-secret-0123456789-abcdefghij TROUPE_LLM_URL=http://127.0.0.1:1 \
  TROUPE_RATE_IP_PER_S=0 TROUPE_RATE_USER_PER_S=0 TROUPE_RATE_AUTH_PER_MIN=0 TROUPE_AGENT_INSTANCES=1
cd "$tmp" # no config/troupe.conf here: defaults + the variables above

port=""
start_troupe() {
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  TROUPE_HTTP_ADDR=127.0.0.1:$port "$bin" run >>"$tmp/troupe.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do
    curl -sf "$base/health" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "check-backup: troupe did not come up:" >&2
  tail -n 20 "$tmp/troupe.log" >&2
  exit 1
}

jget() { "$py" -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1], ""))' "$1"; }
register() {
  curl -s -o /dev/null -w '%{http_code}' -XPOST "$base/v1/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"correct horse battery\",\"name\":\"Backup\"}"
}
login() { # prints the access token, or nothing
  curl -s -XPOST "$base/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"correct horse battery\"}" | jget access_token
}
upload() { # title file -> document id
  curl -s -XPOST "$base/v1/documents?title=$1" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: text/markdown' --data-binary @"$2" | jget id
}
status_of() { curl -s -o /dev/null -w '%{http_code}' "$base$1" -H "Authorization: Bearer $tok"; }
doc_total() { curl -s "$base/v1/documents?limit=1" -H "Authorization: Bearer $tok" | jget total; }
ms() { date +%s%3N; }
# the output of every troupe command, checked at the end for the password
run_cli() { # name args... : output in $tmp/out.NAME, status in $rc
  local name=$1; shift
  set +e
  "$bin" "$@" >"$tmp/out.$name" 2>"$tmp/err.$name"
  rc=$?
  set -e
}

# ---------------------------------------------------------------------------
step "troupe runs; a user and a document"
start_troupe
a_email="ada-$$@example.com"
b_email="bob-$$@example.com"
check "register $a_email" [ "$(register "$a_email")" = 201 ]
tok=$(login "$a_email")
check "login" [ -n "$tok" ]
{
  echo "# Pump maintenance"
  echo
  echo "The zanzibarite impeller of each pump is serviced every 400 hours."
  for i in $(seq 40); do echo "Line $i of the manual: check the seals, the bearings and the zanzibarite vanes."; done
} >"$tmp/doc1.md"
doc1=$(upload pump-manual "$tmp/doc1.md")
check "document 1 stored ($doc1)" [ -n "$doc1" ]
if [ "$extra_docs" -gt 0 ]; then
  t0=$(ms)
  for i in $(seq "$extra_docs"); do
    printf '# Note %d\n\nA small document number %d about valves, gaskets and flow rates.\n' "$i" "$i" >"$tmp/n.md"
    upload "note-$i" "$tmp/n.md" >/dev/null
  done
  echo "   $extra_docs extra documents uploaded in $(( $(ms) - t0 )) ms"
fi
docs_at_backup=$(doc_total)

step "troupe backup while troupe serves"
t0=$(ms)
run_cli backup1 backup "$tmp/backups"
backup_ms=$(( $(ms) - t0 ))
bk=$(cat "$tmp/out.backup1")
check "backup exits 0 ($(tr '\n' ' ' <"$tmp/err.backup1"))" [ "$rc" = 0 ]
check "it prints the new directory" [ -d "$bk" ]
case "$(basename "$bk")" in troupe-backup-[0-9]*T[0-9]*Z) ok "named troupe-backup-<UTC time>" ;; *) bad "name $bk" ;; esac
for f in manifest.json store.mdb postgres.dump; do check "$f is there" [ -s "$bk/$f" ]; done
check "the manifest records the store's documents" \
  "$py" -c 'import json,sys; m=json.load(open(sys.argv[1])); sys.exit(0 if m["store"]["present"] and m["store"]["documents"]==int(sys.argv[2]) and m["database"]["migration_version"]>0 else 1)' \
  "$bk/manifest.json" "$docs_at_backup"
check "files are private (0600)" [ "$(stat -c %a "$bk/postgres.dump")" = 600 ]
check "no partial directory is left" [ -z "$(ls -A "$tmp/backups" | grep partial || true)" ]
echo "   backup of $docs_at_backup documents: ${backup_ms} ms, store.mdb $(stat -c %s "$bk/store.mdb") B, postgres.dump $(stat -c %s "$bk/postgres.dump") B"

step "a backup during a burst of uploads is consistent"
( for i in $(seq 30); do printf 'burst %d\n' "$i" >"$tmp/burst.md"; upload "burst-$i" "$tmp/burst.md" >/dev/null; done ) &
burst_pid=$!
run_cli backup_burst backup "$tmp/burst-backups"
wait "$burst_pid" || true
burst_pid=""
check "backup during uploads exits 0" [ "$rc" = 0 ]
bb=$(cat "$tmp/out.backup_burst")
run_cli verify_burst restore "$bb"
check "it verifies (restore without --yes: exit 2)" [ "$rc" = 2 ]
n=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["store"]["documents"])' "$bb/manifest.json")
check "its document count is between before ($docs_at_backup) and after ($((docs_at_backup + 30)))" \
  [ "$n" -ge "$docs_at_backup" -a "$n" -le $((docs_at_backup + 30)) ]
# (the burst documents came after the first backup: the restore below drops them)

step "things change after the backup"
echo "A second document about centrifugal quokkas." >"$tmp/doc2.md"
doc2=$(upload second "$tmp/doc2.md")
check "document 2 stored" [ -n "$doc2" ]
check "document 1 deleted" [ "$(curl -s -o /dev/null -w '%{http_code}' -XDELETE "$base/v1/documents/$doc1" -H "Authorization: Bearer $tok")" = 200 ]
check "register $b_email" [ "$(register "$b_email")" = 201 ]

step "refused while troupe runs: restore, and a second troupe on the same data_dir"
run_cli restore_running restore "$bk" --yes
check "restore --yes under a running troupe fails" [ "$rc" != 0 ]
check "and says why (the lock): $(head -c 300 "$tmp/err.restore_running")" grep -q "troupe.lock" "$tmp/err.restore_running"
check "nothing changed: document 2 is still there" [ "$(status_of "/v1/documents/$doc2")" = 200 ]
check "nothing changed: no store moved aside" [ -z "$(ls "$tmp/data" | grep before-restore || true)" ]
set +e
TROUPE_HTTP_ADDR=127.0.0.1:0 timeout 20 "$bin" run >"$tmp/out.run2" 2>"$tmp/err.run2"
rc=$?
set -e
check "a second troupe run on the same data_dir fails" [ "$rc" != 0 ]
check "naming the lock and the holder's pid: $(head -c 300 "$tmp/err.run2")" grep -q "pid $pid" "$tmp/err.run2"
check "the first troupe still serves" [ "$(status_of "/v1/documents/$doc2")" = 200 ]

stop_troupe

step "restore without --yes changes nothing"
ls -la "$tmp/data" >"$tmp/data.before"
users_before=$(psql -d "$dbname" -Atc "select count(*) from users")
run_cli dry restore "$bk"
check "exit 2" [ "$rc" = 2 ]
check "it says what it would do" grep -q "would replace" "$tmp/err.dry"
ls -la "$tmp/data" >"$tmp/data.after"
check "data_dir unchanged" cmp -s "$tmp/data.before" "$tmp/data.after"
check "database unchanged" [ "$(psql -d "$dbname" -Atc "select count(*) from users")" = "$users_before" ]

step "damaged backups are refused, naming the file"
damaged() { # name: copy the good backup to $tmp/bad-NAME
  rm -rf "$tmp/bad-$1" && cp -a "$bk" "$tmp/bad-$1" && echo "$tmp/bad-$1"
}
d=$(damaged flip)
"$py" - "$d/store.mdb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(bytes(b))
PY
run_cli flip restore "$d" --yes
check "flipped byte in store.mdb: refused" [ "$rc" = 1 ]
check "naming store.mdb: $(head -c 300 "$tmp/err.flip")" grep -q "store.mdb.*SHA-256" "$tmp/err.flip"
d=$(damaged short)
truncate -s -100 "$d/postgres.dump"
run_cli short restore "$d" --yes
check "short postgres.dump: refused naming it" grep -q "postgres.dump is .* bytes but the manifest says" "$tmp/err.short"
d=$(damaged nomanifest)
rm "$d/manifest.json"
run_cli nomanifest restore "$d" --yes
check "no manifest: refused ($(head -c 200 "$tmp/err.nomanifest"))" grep -q "manifest.json" "$tmp/err.nomanifest"
d=$(damaged newer)
sed -i 's/"format_version": 1/"format_version": 2/' "$d/manifest.json"
run_cli newer restore "$d" --yes
check "format version 2: refused ($(head -c 200 "$tmp/err.newer"))" grep -q "format version 2 is not supported" "$tmp/err.newer"
d=$(damaged traversal)
sed -i 's#"name": "postgres.dump"#"name": "../postgres.dump"#' "$d/manifest.json"
run_cli traversal restore "$d" --yes
check "a file name with a path: refused" grep -q "not a plain file name" "$tmp/err.traversal"
run_cli nodir restore "$tmp/does-not-exist" --yes
check "a missing directory: refused" grep -q "cannot read the backup directory" "$tmp/err.nodir"
check "nothing changed by any of them" [ -z "$(ls "$tmp/data" | grep before-restore || true)" ]
check "database unchanged" [ "$(psql -d "$dbname" -Atc "select count(*) from users")" = "$users_before" ]

step "restore --yes"
t0=$(ms)
run_cli restore restore "$bk" --yes
restore_ms=$(( $(ms) - t0 ))
check "restore exits 0 ($(tail -n 1 "$tmp/err.restore"))" [ "$rc" = 0 ]
check "the previous store was moved aside, not deleted" [ -n "$(ls "$tmp/data" | grep '^store.before-restore-' || true)" ]
echo "   restore of $docs_at_backup documents: ${restore_ms} ms"

step "troupe starts on the restored data: the backup instant"
start_troupe
tok=$(login "$a_email")
check "the user logs in" [ -n "$tok" ]
check "the second user does not exist" [ -z "$(login "$b_email")" ]
check "document 1 is back" [ "$(status_of "/v1/documents/$doc1")" = 200 ]
curl -s "$base/v1/documents/$doc1/content" -H "Authorization: Bearer $tok" -o "$tmp/doc1.back"
check "with identical content" cmp -s "$tmp/doc1.md" "$tmp/doc1.back"
check "document 2 is gone" [ "$(status_of "/v1/documents/$doc2")" = 404 ]
check "the document count is the backup's ($docs_at_backup)" [ "$(doc_total)" = "$docs_at_backup" ]
found=$(curl -s -XPOST "$base/v1/search" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
  -d '{"query":"zanzibarite impeller","k":5}' |
  "$py" -c 'import json,sys; print(" ".join(r["document_id"] for r in json.load(sys.stdin).get("results", [])))')
check "search finds document 1" grep -q "$doc1" <<<"$found"
check "new uploads work" [ -n "$(upload after "$tmp/doc2.md")" ]

step "disaster recovery: the backup into a new, empty database and data_dir"
stop_troupe
createdb "${dbname}_dr"
t0=$(ms)
TROUPE_DATABASE_URL=${db_url%/*}/${dbname}_dr TROUPE_DATA_DIR=$tmp/data-dr run_cli dr restore "$bk" --yes
check "restore into nothing exits 0 ($(tail -n 1 "$tmp/err.dr"))" [ "$rc" = 0 ]
echo "   restore into an empty database and data_dir: $(( $(ms) - t0 )) ms"
saved_url=$TROUPE_DATABASE_URL saved_dir=$TROUPE_DATA_DIR
export TROUPE_DATABASE_URL=${db_url%/*}/${dbname}_dr TROUPE_DATA_DIR=$tmp/data-dr
start_troupe
tok=$(login "$a_email")
check "the user logs in on the new copy" [ -n "$tok" ]
curl -s "$base/v1/documents/$doc1/content" -H "Authorization: Bearer $tok" -o "$tmp/doc1.dr"
check "document 1 is there, identical" cmp -s "$tmp/doc1.md" "$tmp/doc1.dr"
stop_troupe
export TROUPE_DATABASE_URL=$saved_url TROUPE_DATA_DIR=$saved_dir
dropdb --if-exists "${dbname}_dr" || true

step "a database with newer migrations than the backup is refused"
psql -d "$dbname" -qc "insert into schema_migrations (version, name) values (9999, 'from_the_future')"
run_cli newerdb restore "$bk" --yes
check "refused ($(grep -o 'is at migration 9999[^:]*' "$tmp/err.newerdb" | head -n 1))" grep -q "newer than the backup's" "$tmp/err.newerdb"
psql -d "$dbname" -qc "delete from schema_migrations where version = 9999"
start_troupe
tok=$(login "$a_email")

step "failures are reported, and nothing half-made is left"
PATH=/nonexistent run_cli nopg backup "$tmp/nopg"
check "pg_dump not in PATH: exit 1" [ "$rc" = 1 ]
check "says so and names the package" grep -q "pg_dump not found in PATH.*postgresql-client" "$tmp/err.nopg"
check "no backup left behind" [ -z "$(ls -A "$tmp/nopg" 2>/dev/null)" ]
set +e
( ulimit -f 8; "$bin" backup "$tmp/full" >"$tmp/out.full" 2>"$tmp/err.full" )
rc=$?
set -e
check "a file size limit (disk full) fails the backup" [ "$rc" = 1 ]
check "with the system's reason: $(grep -m1 'failed' "$tmp/err.full" | head -c 200)" grep -q "File too large" "$tmp/err.full"
check "and removes the partial backup" [ -z "$(ls -A "$tmp/full" 2>/dev/null)" ]
touch "$tmp/plainfile"
run_cli notdir backup "$tmp/plainfile/sub"
check "an unusable backup directory: refused" grep -q "cannot create the backup directory" "$tmp/err.notdir"
TROUPE_DATABASE_URL=${db_url/127.0.0.1/127.0.0.2}x run_cli baddb backup "$tmp/baddb"
check "an unreachable database: exit 1" [ "$rc" = 1 ]

step "retention: --keep 2"
for i in 1 2 3; do run_cli keep$i backup "$tmp/keep" --keep 2; done
check "three backups, two kept" [ "$(ls "$tmp/keep" | grep -c '^troupe-backup-')" = 2 ]

step "the password never appears in any output"
if [ -n "$password" ] && grep -l -F -- "$password" "$tmp"/out.* "$tmp"/err.* "$tmp/troupe.log" 2>/dev/null; then
  bad "the database password was printed (files above)"
else
  ok "not in $(ls "$tmp"/out.* "$tmp"/err.* | wc -l) outputs"
fi

stop_troupe
step "no sanitizer reports (an ASan build), every troupe run stopped cleanly ($stops)"
if grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$tmp"/err.* "$tmp/troupe.log" 2>/dev/null; then
  bad "sanitizer reports in the files above"
else
  ok "none"
fi
if [ "$fails" -gt 0 ]; then
  echo "check-backup: $fails check(s) failed; troupe log:" >&2
  tail -n 30 "$tmp/troupe.log" >&2
  exit 1
fi
echo "check-backup: all checks passed (backup ${backup_ms} ms, restore ${restore_ms} ms, $docs_at_backup documents)"
