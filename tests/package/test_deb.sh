#!/usr/bin/env bash
# Builds the .deb (`cargo deb -p ctibridge`, a release build), installs it on this machine,
# starts the service as its unit would (systemctl when systemd runs, else the unit's ExecStart
# by hand as the ctibridge user) against emulators on loopback, checks /healthz, /readyz and
# /metrics, then purges the package and checks that the user and directories are gone.
# Needs root, dpkg and cargo-deb. Must not run where a real ctibridge package is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { printf -- '--- %s\n' "$*"; }

[ "$(id -u)" = 0 ] || fail "run as root (installs a package)"
command -v dpkg >/dev/null || fail "dpkg is missing"
status=$(dpkg-query -W -f='${Status}' ctibridge 2>/dev/null || true)
if [ -n "$status" ] && [[ "$status" != *not-installed ]]; then
  fail "a ctibridge package is on this machine ($status); this test would purge it"
fi
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl stop ctibridge 2>/dev/null || true
  fi
  if dpkg-query -W ctibridge >/dev/null 2>&1; then
    dpkg --purge ctibridge >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "build the .deb"
deb=$(cargo deb -p ctibridge --locked 2>"$work/build.log" | tail -n 1) ||
  { cat "$work/build.log" >&2; fail "cargo deb"; }
[ -f "$deb" ] || fail "cargo deb printed no package path (got: $deb)"
echo "$deb ($(du -h "$deb" | cut -f1))"

step "package contents"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/ctibridge ./etc/ctibridge/config.toml ./lib/systemd/system/ctibridge.service; do
  grep -q " $f\$" <<<"$contents" || grep -q " ${f/.\/lib/.\/usr\/lib}\$" <<<"$contents" ||
    fail "$f is not in the package"
done
conffiles=$(dpkg-deb --info "$deb" conffiles)
grep -qx '/etc/ctibridge/config.toml' <<<"$conffiles" || fail "config.toml is not a conffile"

step "install"
timeout 120 dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i"; }
getent passwd ctibridge >/dev/null || fail "no ctibridge user"
[ "$(getent passwd ctibridge | cut -d: -f6)" = /var/lib/ctibridge ] || fail "home is not /var/lib/ctibridge"
[ "$(stat -c '%U:%G %a' /var/lib/ctibridge)" = "ctibridge:ctibridge 700" ] ||
  fail "/var/lib/ctibridge is $(stat -c '%U:%G %a' /var/lib/ctibridge)"
[ "$(stat -c '%U:%G %a' /etc/ctibridge/config.toml)" = "root:ctibridge 640" ] ||
  fail "/etc/ctibridge/config.toml is $(stat -c '%U:%G %a' /etc/ctibridge/config.toml)"
cmp -s /etc/ctibridge/config.toml packaging/config.toml || fail "the installed config differs"
unit=$(dpkg -L ctibridge | grep '/systemd/system/ctibridge.service$') || fail "no unit installed"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$exec_start" = "/usr/bin/ctibridge serve --config /etc/ctibridge/config.toml" ] ||
  fail "unexpected ExecStart: $exec_start"
/usr/bin/ctibridge --version >/dev/null || fail "the installed binary does not run"
if command -v systemd-analyze >/dev/null; then
  # Works without systemd as PID 1: checks the unit's syntax, directives and ExecStart binary.
  # It warns about unknown keys and bad values but still exits 0: any output is a failure.
  verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify: $verify"
fi

step "emulators on loopback"
/usr/bin/ctibridge emulate salesforce --listen 127.0.0.1:0 >"$work/sf.out" 2>&1 &
pids+=($!)
/usr/bin/ctibridge emulate starface --listen 127.0.0.1:0 >"$work/pbx.out" 2>&1 &
pids+=($!)
org="" pbx=""
for _ in $(seq 100); do
  org=$(sed -n 's/^salesforce emulator listening on //p' "$work/sf.out")
  pbx=$(sed -n 's/^starface emulator listening on //p' "$work/pbx.out")
  [ -n "$org" ] && [ -n "$pbx" ] && break
  sleep 0.1
done
[ -n "$org" ] && [ -n "$pbx" ] || fail "the emulators did not start"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# The test configuration replaces the conffile, so the service reads it with the permissions
# postinst gave (root:ctibridge 0640); purge removes it with the package.
cat >/etc/ctibridge/config.toml <<EOF
[server]
listen = "127.0.0.1:$port"
public_url = "$base/"
data_dir = "/var/lib/ctibridge"

[starface]
url = "$pbx"
admin_login = "0001"
admin_password = "admin-pass"

[[instance]]
name = "Package test"
users = ["ben.utzer@example.com", "1002"]
groups = ["Sales"]
import_contacts = false

[instance.salesforce]
login_url = "$org"
client_id = "demo-consumer-key"
client_secret = "demo-consumer-secret"
EOF

step "start the service"
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl start ctibridge
  how="systemctl"
else
  # No systemd here: run the unit's command as its user; the unit's hardening is not applied.
  # shellcheck disable=SC2086 # ExecStart is split into words as systemd does
  runuser -u ctibridge -- $exec_start >"$work/serve.out" 2>&1 &
  pids+=($!)
  how="runuser -u ctibridge"
fi
echo "started with $how"

curl_() { curl -sS --noproxy '*' --max-time 5 "$@"; }
for _ in $(seq 150); do
  curl_ -o /dev/null "$base/healthz" 2>/dev/null && break
  sleep 0.2
done
[ "$(curl_ "$base/healthz")" = ok ] || { cat "$work/serve.out" >&2 || true; fail "/healthz"; }
code=""
for _ in $(seq 150); do
  code=$(curl_ -o "$work/readyz" -w '%{http_code}' "$base/readyz" || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || fail "/readyz stayed $code: $(cat "$work/readyz")"
grep -q '"ready":true' "$work/readyz" || fail "/readyz body: $(cat "$work/readyz")"
curl_ "$base/metrics" >"$work/metrics"
grep -q '^ctibridge_ready 1$' "$work/metrics" || fail "/metrics: ctibridge_ready is not 1"
grep -q '^ctibridge_starface_users 6$' "$work/metrics" || fail "/metrics: no PBX users"
[ -f /var/lib/ctibridge/secret.key ] || fail "the service wrote no key file into /var/lib/ctibridge"
[ "$(stat -c '%U' /var/lib/ctibridge/secret.key)" = ctibridge ] || fail "key file not owned by ctibridge"
if grep -q 'open to other users' "$work/serve.out" 2>/dev/null; then
  fail "the service found its data directory open to others"
fi
echo "healthz ok, readyz 200, metrics ok"

step "purge"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
timeout 120 dpkg --purge ctibridge >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
[ ! -e /usr/bin/ctibridge ] || fail "/usr/bin/ctibridge is left"
[ ! -e /var/lib/ctibridge ] || fail "/var/lib/ctibridge is left"
[ ! -e /etc/ctibridge ] || fail "/etc/ctibridge is left"
! getent passwd ctibridge >/dev/null || fail "the ctibridge user is left"
! getent group ctibridge >/dev/null || fail "the ctibridge group is left"
echo "package test passed"
