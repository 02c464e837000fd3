#!/usr/bin/env bash
# tests/check_config.sh BUILD_DIR [CONFIG_DIR] - the configuration profiles
# (config/troupe.conf, config/staging.conf, config/prod.conf), checked with
# the real binary (ctest: config_profiles).
#
#   1. every profile parses and validates: `troupe --config F config` exits 0,
#      and `troupe --config F run` gets past all of its start-up checks (JWT
#      secret, LLM URL, auth/address rule, the store opened in a scratch
#      directory) up to the database, which is a throwaway unreachable URL;
#      staging and prod refuse to start without TROUPE_JWT_SECRET. The secrets
#      are throwaway values in the environment, as in production.
#   2. staging matches prod but for secrets: their effective configurations
#      (`troupe config`, values only, not where they came from) differ on no
#      key outside ALLOW below, which must also be the list declared at the
#      top of staging.conf ("# allow-list: ..."); env is staging / prod.
#   3. no secrets in the files: no active line sets a secret-looking key
#      (jwt_secret, *_password, *_token, *_api_key, *_secret, database_url)
#      to a value, no value is a URL with credentials in it, and no key troupe
#      itself treats as secret comes from the file.
#   4. staging.conf and prod.conf set every non-secret key explicitly (but
#      admin_email, a first-start bootstrap), so a changed default never
#      reaches production unnoticed.
#
# CONFIG_DIR (default: the repository's config/) lets the check run on a copy.
# Exit 0 when all hold, 1 otherwise (every failure is listed), 2 on misuse.
set -uo pipefail

# Keys staging may set differently from prod; justified in staging.conf.
ALLOW="env node_name http_addr zmq_addr data_dir"

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
confdir=${2:-$root/config}
troupe=$build/troupe
[ -x "$troupe" ] || { echo "check_config: $troupe not found (build first)" >&2; exit 2; }
for f in troupe.conf staging.conf prod.conf; do
  [ -f "$confdir/$f" ] || { echo "check_config: $confdir/$f is missing" >&2; exit 2; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }

# Throwaway secrets: never real ones. The database URL points at a closed port.
SECRET_ENV=(TROUPE_JWT_SECRET=throwaway-check-config-0123456789abcdef
            TROUPE_METRICS_TOKEN=throwaway-metrics-token
            "TROUPE_DATABASE_URL=postgresql://check:throwaway@127.0.0.1:1/none?connect_timeout=2")
# A clean environment: the caller's TROUPE_* variables must not leak in.
clean() { env -i PATH="$PATH" LANG=C.UTF-8 "$@"; }

# `troupe config` output -> "key<TAB>value<TAB>source" lines
parse() {
  sed -E 's/^([a-z0-9_]+) += (.*) # ([^#]*)$/\1\t\2\t\3/' "$1" |
    awk -F'\t' 'NF == 3 { sub(/ +$/, "", $2); print $1 "\t" $2 "\t" $3; next } { print "UNPARSED\t" $0 }'
}

# ---- 1. parse and validate ----------------------------------------------------
for f in troupe.conf staging.conf prod.conf; do
  conf=$confdir/$f
  name=${f%.conf}
  if clean "${SECRET_ENV[@]}" "$troupe" --config "$conf" config >"$tmp/$name.out" 2>"$tmp/$name.err" &&
     clean "$troupe" --config "$conf" config >"$tmp/$name.bare.out" 2>>"$tmp/$name.err"; then
    parse "$tmp/$name.out" >"$tmp/$name.kv"
    parse "$tmp/$name.bare.out" >"$tmp/$name.bare.kv"
    if grep -q '^UNPARSED' "$tmp/$name.kv" "$tmp/$name.bare.kv"; then
      fail "$f: unexpected \`troupe config\` output: $(grep -h '^UNPARSED' "$tmp/$name.kv" | head -n 1)"
    else
      ok "$f parses and validates (troupe config)"
    fi
  else
    fail "$f: troupe config refused it: $(head -c 300 "$tmp/$name.err")"
    : >"$tmp/$name.kv"
    : >"$tmp/$name.bare.kv"
    continue
  fi

  # start-up checks of `troupe run` (tools/cli/app.c), stopped at the database
  mkdir -p "$tmp/data-$name"
  clean "${SECRET_ENV[@]}" TROUPE_DATA_DIR="$tmp/data-$name" \
    timeout 60 "$troupe" --config "$conf" run >"$tmp/$name.run.out" 2>"$tmp/$name.run.err"
  rc=$?
  if [ "$rc" -eq 78 ] && grep -q 'database migrations failed' "$tmp/$name.run.err"; then
    ok "$f passes troupe run's start-up checks (stopped at the throwaway database)"
  else
    fail "$f: troupe run did not reach the database step (exit $rc): $(head -c 300 "$tmp/$name.run.err")"
  fi
  if [ "$name" != troupe ]; then
    clean TROUPE_METRICS_TOKEN=x TROUPE_DATABASE_URL="postgresql://check:throwaway@127.0.0.1:1/none" \
      TROUPE_DATA_DIR="$tmp/data-$name" timeout 60 "$troupe" --config "$conf" run \
      >/dev/null 2>"$tmp/$name.nosecret.err"
    rc=$?
    if [ "$rc" -eq 78 ] && grep -q 'jwt_secret is required' "$tmp/$name.nosecret.err"; then
      ok "$f refuses to start without TROUPE_JWT_SECRET"
    else
      fail "$f: started (or failed otherwise) without TROUPE_JWT_SECRET (exit $rc): $(head -c 300 "$tmp/$name.nosecret.err")"
    fi
  fi
done

# ---- 2. staging matches prod but for the allow-list ---------------------------------
declared=$(sed -n 's/^# allow-list: *//p' "$confdir/staging.conf" | head -n 1)
if [ "$(tr ' ' '\n' <<<"$declared" | grep -v '^$' | sort | tr '\n' ' ')" != \
     "$(tr ' ' '\n' <<<"$ALLOW" | sort | tr '\n' ' ')" ]; then
  fail "staging.conf declares allow-list '$declared'; the check allows '$ALLOW' (change both, with a reason)"
fi
value() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$tmp/$1.kv"; }
if [ -s "$tmp/staging.kv" ] && [ -s "$tmp/prod.kv" ]; then
  [ "$(value prod env)" = prod ] || fail "prod.conf: env is '$(value prod env)', not prod"
  [ "$(value staging env)" = staging ] || fail "staging.conf: env is '$(value staging env)', not staging"
  cut -f1,2 "$tmp/prod.kv" | sort >"$tmp/prod.cmp"
  cut -f1,2 "$tmp/staging.kv" | sort >"$tmp/staging.cmp"
  ndiff=0
  while IFS=$'\t' read -r key; do
    case " $ALLOW " in *" $key "*) continue ;; esac
    fail "staging and prod differ on $key: staging='$(value staging "$key")' prod='$(value prod "$key")'"
    ndiff=$((ndiff + 1))
  done < <(diff "$tmp/prod.cmp" "$tmp/staging.cmp" | sed -n 's/^[<>] //p' | cut -f1 | sort -u)
  [ "$ndiff" -eq 0 ] && ok "staging matches prod except for: $ALLOW"
else
  fail "staging/prod comparison skipped: a profile did not parse"
fi

# ---- 3. no secrets in the files -----------------------------------------------------
for f in troupe.conf staging.conf prod.conf; do
  conf=$confdir/$f
  name=${f%.conf}
  bad=0
  # active `key = value` lines: secret-looking keys with a value
  while IFS= read -r line; do
    fail "$f: a secret in the file: '${line%%=*}= ...' (secrets come from TROUPE_* environment variables)"
    bad=1
  done < <(sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' "$conf" | grep -v '^#' |
           grep -iE '^(([a-z0-9_]*_)?(secret|password|token|api_key)|database_url)[[:space:]]*=[[:space:]]*("[^"]+"|[^"[:space:]].*)$')
  # credentials inside a URL value (scheme://user:pass@host)
  while IFS= read -r line; do
    fail "$f: a URL with credentials: '${line%%=*}= ...'"
    bad=1
  done < <(grep -v '^[[:space:]]*#' "$conf" | grep -E '=[^#]*://[^/@[:space:]]*:[^/@[:space:]]*@')
  # keys troupe itself hides (secret) must not come from the file
  while IFS=$'\t' read -r key _ src; do
    fail "$f: secret key $key is set in the file ($src)"
    bad=1
  done < <(awk -F'\t' '($2 == "(set, hidden)" || $2 == "(not set)") && $3 ~ /^file:/' "$tmp/$name.bare.kv")
  [ "$bad" -eq 0 ] && ok "$f holds no secrets"
done

# ---- 4. the deployment profiles are explicit ------------------------------------------
for name in staging prod; do
  missing=$(awk -F'\t' '$2 != "(set, hidden)" && $2 != "(not set)" && $1 != "admin_email" && $3 !~ /^file:/ { print $1 }' \
              "$tmp/$name.bare.kv" | tr '\n' ' ')
  if [ -n "$missing" ]; then
    fail "$name.conf leaves keys at their defaults (set each explicitly, in both profiles): $missing"
  elif [ -s "$tmp/$name.bare.kv" ]; then
    ok "$name.conf sets every non-secret key"
  fi
done

if [ "$fails" -ne 0 ]; then
  echo "check_config: $fails failure(s)"
  exit 1
fi
echo "check_config: all profiles OK"
