#!/usr/bin/env bash
# Builds the container image (Containerfile) and proves it (OPS-3), without a container engine or a registry:
#
#  1. A local base image, localhost/palisade-node-base, made from scratch with buildah out of this machine's Node.js,
#     npm, C libraries, /bin/sh, a few coreutils and CA bundle: the stand-in for docker.io/library/node:22-bookworm-slim,
#     which cannot be pulled here. It lays them out as the official image does (/usr/local/bin/node, npm beside it).
#  2. `buildah bud --isolation chroot --format docker` of the Containerfile on that base (--build-arg BASE). The npm
#     configuration of this machine (registry, CA file) goes in as the `npmrc` build secret, never into a layer.
#  3. `skopeo inspect --config`: the image's user is not empty, 0 or root; the health check, the stop signal, the
#     volume and the entry point are there. What the image holds: no sources, tests, devDependencies or npmrc.
#  4. Its root filesystem run as that user, the way an engine runs `--read-only -v data:/data`: in new mount and
#     PID namespaces (Palisade is PID 1, as in a container), the root filesystem bound read-only, a fresh directory
#     at /data, /proc and a minimal /dev, nothing at /tmp. It must start, answer /healthz, /readyz, the UI and the
#     API (a 401 envelope, then a sign-in with the generated root password from /data), pass the image's own
#     HEALTHCHECK command, fail to write anywhere but /data (EROFS), spill SQLite temp files into /data; then on
#     SIGTERM stop accepting, finish a request in flight, write the mail of a background task and exit 0 in time.
#
# Needs root (namespaces, mounts), buildah, skopeo, unshare and nsenter (util-linux), ss (iproute2). Every byte of storage lives
# in one temporary directory (--root/--runroot, TMPDIR, storage and registries configuration), removed at the end:
# nothing is cached between runs, global container storage is never touched. CONTAINER_TEST_KEEP=1 keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'container-test: %s\n' "$*"; }
fail() {
  printf 'container-test: FAIL: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (mount and PID namespaces, chroot)"
for c in buildah skopeo unshare nsenter ss node dpkg exiftool qpdf; do command -v "$c" >/dev/null || fail "$c is missing"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/palisade-container.XXXXXX")
server_pid= unshare_pid= client_pid=
cleanup() {
  local rc=$? p
  # What this script started and is still running: the container's namespace (its child goes with it), the client.
  for p in "$unshare_pid" "$server_pid" "$client_pid"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  if [ "${CONTAINER_TEST_KEEP:-0}" = 1 ]; then
    say "kept $work"
  elif grep -q " ${work}/" /proc/self/mountinfo; then
    # The run's mounts live in its own namespace and go with it; never delete through a mount that stayed.
    printf 'container-test: mounts remain under %s; not removing it\n' "$work" >&2
    rc=1
  else
    B rm --all >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT

mkdir -p "$work/storage" "$work/run" "$work/tmp"
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
printf 'unqualified-search-registries = []\n' >"$work/registries.conf"
export CONTAINERS_STORAGE_CONF="$work/storage.conf" CONTAINERS_REGISTRIES_CONF="$work/registries.conf" TMPDIR="$work/tmp"
export BUILDAH_ISOLATION=chroot
# buildah and skopeo keep a blob-info cache in /var/lib/containers/cache when run as root, whatever --root says:
# each runs in a mount namespace of its own with an empty directory of $work over /var/lib, so it lands there.
# (vfs needs no mount for `buildah mount`: its path is a plain directory, seen from every namespace.)
mkdir -p "$work/var-lib"
isolated() { unshare --mount --propagation private -- bash -c 'mount --bind "$0" /var/lib && exec "$@"' "$work/var-lib" "$@"; }
B() { isolated buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
STORE="containers-storage:[vfs@$work/storage+$work/run]"
BASE_IMAGE=localhost/palisade-node-base:test
IMAGE=localhost/palisade:test

# ---- 1. the base image ------------------------------------------------------------------------------------------
t0=$SECONDS
base=$(B from --quiet scratch)
bm=$(B mount "$base")
mkdir -p "$bm"/usr/{bin,sbin,lib,lib64,local/bin,local/lib/node_modules} "$bm"/{etc/ssl/certs,proc,sys,dev,root,run,tmp}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$bm/$d"; done
chmod 1777 "$bm/tmp"
chmod 0700 "$bm/root"
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
cp "$node_bin" "$bm/usr/local/bin/node"
cp -a "$npm_dir" "$bm/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$bm/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$bm/usr/local/bin/npx"
tools=(dash env rm mkdir chown chmod mv cp ln ls cat find id)
for t in "${tools[@]}"; do cp "$(readlink -f "$(command -v "$t")")" "$bm/usr/bin/$t"; done
ln -s dash "$bm/usr/bin/sh"
# The C and C++ runtime as Debian ships it (what the slim image has), and whatever else the tools link.
{
  dpkg -L libc6 libgcc-s1 libstdc++6 | grep -E '^/(usr/)?lib[^/]*/[^/]*/?[^/]*\.so[.0-9]*$' || true
  ldd "$node_bin" "${tools[@]/#//usr/bin/}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
} | sort -u | while read -r lib; do
  [ -f "$lib" ] || continue
  mkdir -p "$bm$(dirname "$lib")"
  cp -L "$lib" "$bm$lib"
done
# ExifTool (Perl) and qpdf, the tools of the uploads' metadata removal (docs/files.md#metadata), as Debian lays them
# out: the Containerfile installs them with apt on a Debian base; this stand-in has no apt, so it gets this machine's
# (`.ci/run` installs them), which the Containerfile then finds in place.
meta_pkgs=(libimage-exiftool-perl qpdf perl perl-base)
while read -r st pkg; do if [ "$st" = ii ]; then meta_pkgs+=("$pkg"); fi; done < <(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'perl-modules-*' 'libperl5*' 'libqpdf*' 2>/dev/null || true)
dpkg -L "${meta_pkgs[@]}" | while read -r f; do
  case "$f" in /usr/share/doc/* | /usr/share/man/* | /usr/share/lintian/*) continue ;; esac
  [ -f "$f" ] || [ -L "$f" ] || continue
  mkdir -p "$bm$(dirname "$f")"
  cp -a "$f" "$bm$f"
done
{
  ldd /usr/bin/perl /usr/bin/qpdf 2>/dev/null || true
  dpkg -L "${meta_pkgs[@]}" | grep -E '\.so[.0-9]*$' | xargs -r ldd 2>/dev/null || true
} | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
  [ -e "$bm$lib" ] && continue
  mkdir -p "$bm$(dirname "$lib")"
  cp -L "$lib" "$bm$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$bm/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$bm/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$bm/etc/group"
B config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$base"
B commit --quiet --format docker --rm "$base" "$BASE_IMAGE" >/dev/null
say "base image $BASE_IMAGE ($(node --version), npm $(npm --version)) made in $((SECONDS - t0)) s"

# ---- 2. the image -----------------------------------------------------------------------------------------------
# This machine's npm configuration (registry, a proxy's CA file), as the build secret the Containerfile mounts.
: >"$work/npmrc"
for f in "$(npm config get globalconfig)" "$(npm config get userconfig)"; do [ -f "$f" ] && cat "$f" >>"$work/npmrc"; done
cmp -s .containerignore .dockerignore || fail ".containerignore and .dockerignore differ: keep them identical"
t0=$SECONDS
B bud --isolation chroot --format docker --pull-never --quiet \
  --build-arg "BASE=$BASE_IMAGE" --secret "id=npmrc,src=$work/npmrc" \
  -f Containerfile -t "$IMAGE" . >"$work/build.log" 2>&1 || {
  cat "$work/build.log" >&2
  fail "buildah bud failed"
}
build_s=$((SECONDS - t0))
say "image $IMAGE built in ${build_s} s"

# ---- 3. what the image says ------------------------------------------------------------------------------------
isolated skopeo inspect --config --raw "$STORE$IMAGE" >"$work/config.json"
isolated skopeo inspect "$STORE$IMAGE" >/dev/null
# One line per field, read by the shell below (node is on every machine that runs this; jq may not be).
node - "$work/config.json" >"$work/config.sh" <<'EOF'
const c = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8')).config ?? {};
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const arr = (name, a) => console.log(`${name}=(${(a ?? []).map(q).join(' ')})`);
console.log(`IMG_USER=${q(c.User ?? '')}`);
console.log(`IMG_WORKDIR=${q(c.WorkingDir || '/')}`);
console.log(`IMG_STOPSIGNAL=${q(c.StopSignal ?? '')}`);
arr('IMG_ENV', c.Env);
arr('IMG_CMD', [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])]);
arr('IMG_HEALTH', c.Healthcheck?.Test);
arr('IMG_VOLUMES', Object.keys(c.Volumes ?? {}));
arr('IMG_PORTS', Object.keys(c.ExposedPorts ?? {}));
EOF
# shellcheck disable=SC1091
. "$work/config.sh"
say "user '$IMG_USER', workdir $IMG_WORKDIR, command ${IMG_CMD[*]}, volumes ${IMG_VOLUMES[*]}, ports ${IMG_PORTS[*]}"
run_uid=${IMG_USER%%:*}
run_gid=${IMG_USER#*:}
[ "$run_gid" = "$IMG_USER" ] && run_gid=$run_uid
case "$run_uid" in
'' | 0 | root) fail "the image runs as root (User '$IMG_USER')" ;;
*[!0-9]*) fail "the image's user '$IMG_USER' is a name: give a number, so that runAsNonRoot can check it" ;;
esac
[[ $run_gid =~ ^[0-9]+$ ]] && [ "$run_gid" != 0 ] || fail "the image's group '$run_gid' must be a number other than 0"
[ "${IMG_HEALTH[0]:-}" = CMD ] || fail "no HEALTHCHECK in the image (build with --format docker)"
[ "$IMG_STOPSIGNAL" = SIGTERM ] || fail "STOPSIGNAL is '$IMG_STOPSIGNAL', not SIGTERM"
[ "${IMG_VOLUMES[*]}" = /data ] || fail "the volumes are '${IMG_VOLUMES[*]}', not /data"
# No development mode in production: libraries that read NODE_ENV run in their production mode.
[[ " ${IMG_ENV[*]} " == *" NODE_ENV=production "* ]] || fail "the image does not set NODE_ENV=production"

ctr=$(B from --pull-never --quiet "$IMAGE")
root=$(B mount "$ctr")
app="$root$IMG_WORKDIR"
for p in src test ui docs bench .git .ci scripts tsconfig.json package-lock.json data; do
  [ ! -e "$app/$p" ] || fail "the image holds /app/$p"
done
[ -f "$app/dist/ui/index.html" ] && [ -f "$app/assets/password-blocklist.bin" ] && [ -f "$app/package.json" ] ||
  fail "the image lacks the UI build, the password blocklist or package.json"
[ -z "$(find "$app/dist" -name '*.map' -print -quit)" ] || fail "source maps in the image"
found=$(find "$root" -xdev \( -name .npmrc -o -path '*/run/secrets/*' \) -print -quit 2>/dev/null)
[ -z "$found" ] || fail "an npm configuration or a secret in the image: ${found#"$root"}"
node - "$app" package.json package-lock.json <<'EOF' || fail "dependencies in the image are not the production ones"
const fs = require('node:fs');
const [app, pkgFile, lockFile] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8'));
// A package the lock file marks dev-only must be absent (a devDependency that a production dependency also needs,
// such as @types/node under @node-saml/node-saml, is not dev-only and may be there).
const devOnly = Object.entries(lock.packages).filter(([p, e]) => p.startsWith('node_modules/') && e.dev === true).map(([p]) => p);
const bad = [
  ...devOnly.filter((p) => fs.existsSync(`${app}/${p}`)).map((p) => `dev-only package ${p.slice('node_modules/'.length)} present`),
  ...Object.keys(pkg.dependencies).filter((d) => !fs.existsSync(`${app}/node_modules/${d}`)).map((d) => `dependency ${d} missing`),
];
if (!devOnly.some((p) => p === 'node_modules/typescript')) bad.push('the lock file does not mark typescript dev-only: the check would prove nothing');
for (const b of bad) console.error(`container-test: ${b}`);
process.exit(bad.length ? 1 : 0);
EOF
[ "$(stat -c %u:%g:%a "$root/data")" = "$run_uid:$run_gid:700" ] || fail "/data is $(stat -c %u:%g:%a "$root/data"), not $run_uid:$run_gid:700"
[ "$(stat -c %u "$app/dist/cli/main.js")" = 0 ] || fail "the code under $IMG_WORKDIR is not root's"

image_size=$(B images --noheading --format '{{.Size}}' "$IMAGE")
base_size=$(B images --noheading --format '{{.Size}}' "$BASE_IMAGE")
app_mb=$(du -sm "$app" | cut -f1)
say "image size $image_size (base $base_size; $IMG_WORKDIR $app_mb MB: dist $(du -sm "$app/dist" | cut -f1) MB, node_modules $(du -sm "$app/node_modules" | cut -f1) MB)"
[ "$app_mb" -le 150 ] || fail "$IMG_WORKDIR is $app_mb MB: more than the 150 MB expected of the server and its production dependencies"

# ---- 4. run it --------------------------------------------------------------------------------------------------
port=$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
data="$work/data"
mkdir -m 0700 "$data"
chown "$run_uid:$run_gid" "$data"
rootfs="$work/rootfs"
mkdir "$rootfs"
# The container's environment: the image's, then what `-e` would add (a fresh APP_KEY, a loopback port).
run_env=("${IMG_ENV[@]}" "HOME=/" "HOST=127.0.0.1" "PORT=$port"
  "APP_KEY=$(node -e "console.log(require('node:crypto').randomBytes(48).toString('base64'))")"
  "INIT_ROOT_EMAIL=root@example.org" "PUBLIC_URL=http://127.0.0.1:$port")

# Runs inside new mount and PID namespaces (the shell is PID 1 and execs into the command, as an engine does).
in_container() {
  set -euo pipefail
  local image_root=$1 rootfs=$2 data=$3 wd=$4 uid=$5 gid=$6
  shift 6
  mount --bind "$image_root" "$rootfs"
  mount --bind "$data" "$rootfs/data"
  mount -t proc -o nosuid,nodev,noexec proc "$rootfs/proc"
  mount -t tmpfs -o nosuid,noexec,mode=0755,size=64k devtmp "$rootfs/dev"
  local d
  for d in null zero full random urandom; do
    touch "$rootfs/dev/$d"
    mount --bind "/dev/$d" "$rootfs/dev/$d"
  done
  mount -o remount,bind,ro,nosuid,nodev "$rootfs"
  # env -i: only the container's variables; unshare --root/--wd/--setgid/--setuid: chroot, cd, drop the groups and
  # become the image's user (no capability is left), then exec the image's command.
  local n=${#@} i env=()
  for ((i = 1; i <= n; i++)); do
    [ "${!i}" = -- ] && break
    env+=("${!i}")
  done
  shift $((i))
  exec /usr/bin/env -i "${env[@]}" /usr/bin/unshare --root="$rootfs" --wd="$wd" --setgid "$gid" --setuid "$uid" -- "$@"
}

t0=$SECONDS
unshare --mount --propagation private --pid --fork --kill-child -- bash -c "$(declare -f in_container); in_container \"\$@\"" _ \
  "$root" "$rootfs" "$data" "$IMG_WORKDIR" "$run_uid" "$run_gid" "${run_env[@]}" -- "${IMG_CMD[@]}" \
  >"$work/server.out" 2>"$work/server.err" &
unshare_pid=$!
server_pid=
for _ in $(seq 1 100); do
  server_pid=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | tr -d ' ') || true
  [ -n "$server_pid" ] && [ "$(cat "/proc/$server_pid/comm" 2>/dev/null)" = node ] && break
  kill -0 "$unshare_pid" 2>/dev/null || break
  sleep 0.1
done
show_logs() { printf -- '--- stdout\n%s\n--- stderr\n%s\n' "$(tail -c 4000 "$work/server.out")" "$(cat "$work/server.err")" >&2; }
[ -n "$server_pid" ] && [ "$(cat "/proc/$server_pid/comm" 2>/dev/null)" = node ] || {
  show_logs
  fail "the server process did not start"
}

# GET/POST on the server: prints the status, a space, the body.
http() { # method path [json body] [bearer token]
  node -e '
    const [m, p, body, token] = process.argv.slice(1);
    const headers = {};
    if (body) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    fetch(`http://127.0.0.1:${process.env.PORT}${p}`, { method: m, headers, body: body || undefined, signal: AbortSignal.timeout(10000) })
      .then(async (r) => console.log(r.status, await r.text()))
      .catch((e) => { console.log(0, e.cause?.code ?? e.message); });
  ' "$@"
}
export PORT=$port
ready=
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || break
  if [ "$(http GET /healthz)" = '200 {"status":"ok"}' ]; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || {
  show_logs
  fail "no 200 from /healthz within 60 s"
}
say "started and answering in $((SECONDS - t0)) s (pid $server_pid on the host, port $port)"
grep -q '"event":"system.start"' "$work/server.out" || fail "no system.start log line"

# Who it runs as: the image's user and group, no supplementary group, no capability; PID 1 of its namespace.
status=$(cat "/proc/$server_pid/status")
grep -qE "^Uid:\s+$run_uid\s+$run_uid\s+$run_uid\s+$run_uid$" <<<"$status" || fail "the server's uid is not $run_uid: $(grep ^Uid <<<"$status")"
grep -qE "^Gid:\s+$run_gid\s+$run_gid\s+$run_gid\s+$run_gid$" <<<"$status" || fail "the server's gid is not $run_gid"
grep -qE '^Groups:\s*$' <<<"$status" || fail "the server has supplementary groups: $(grep ^Groups <<<"$status")"
grep -qE '^CapEff:\s+0+$' <<<"$status" || fail "the server has capabilities: $(grep ^CapEff <<<"$status")"
grep -qE "^NSpid:\s+$server_pid\s+1$" <<<"$status" || fail "the server is not PID 1 of its namespace"

# The API, the UI and readiness.
r=$(http GET /api/auth/me)
[[ $r == '401 {"error":{"code":"AUTH_REQUIRED"'* ]] || fail "GET /api/auth/me without a token: $r"
r=$(http GET /readyz)
[[ $r == 200* ]] || fail "GET /readyz: $r"
r=$(http GET /)
[[ $r == 200*'<!doctype html>'* || $r == 200*'<!DOCTYPE html>'* ]] || fail "GET / (the admin UI): ${r:0:200}"
# The first start wrote the generated root password into /data (no terminal attached): a one-time password (D366),
# so the first sign-in answers with a change token; the new password then signs in.
[ -f "$data/initial-root-password" ] || fail "no initial-root-password in /data"
password=$(head -n1 "$data/initial-root-password")
r=$(http POST /api/auth/login "{\"username\":\"root\",\"password\":\"$password\"}")
[[ $r == 403*'"PASSWORD_CHANGE_REQUIRED"'* ]] || fail "first sign-in as root with the generated password: $r"
change=$(node -e 'console.log(JSON.parse(process.argv[1].slice(4)).error.details.changeToken)' "$r")
newpw="Container-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')-Pw"
r=$(http POST /api/auth/password/reset "{\"token\":\"$change\",\"newPassword\":\"$newpw\"}")
[[ $r == 204* ]] || fail "changing the generated root password: $r"
r=$(http POST /api/auth/login "{\"username\":\"root\",\"password\":\"$newpw\"}")
[[ $r == 200* ]] || fail "sign-in as root: $r"
token=$(node -e 'console.log(JSON.parse(process.argv[1].slice(4)).token)' "$r")
r=$(http GET /api/auth/me "" "$token")
[[ $r == 200*'"username":"root"'* ]] || fail "GET /api/auth/me with the token: ${r:0:200}"
say "GET /healthz 200, /readyz 200, / 200 (UI), /api/auth/me 401 AUTH_REQUIRED, then 200 after signing in as root"

# Commands inside the running container (the health check, the probes below): its root, its user, its environment.
in_running() { # [--as-root] command...
  local who=(-S "$run_uid" -G "$run_gid")
  if [ "$1" = --as-root ]; then
    who=()
    shift
  fi
  nsenter -t "$server_pid" -m -p -r -w "${who[@]}" -- /usr/bin/env -i "${run_env[@]}" "$@"
}
in_running "${IMG_HEALTH[@]:1}" || fail "the image's HEALTHCHECK command failed against the running server"
# A stopped port makes the same check fail, so it does test something.
run_env_wrong_port=("${run_env[@]}" "PORT=1")
if nsenter -t "$server_pid" -m -p -r -S "$run_uid" -G "$run_gid" -- /usr/bin/env -i "${run_env_wrong_port[@]}" "${IMG_HEALTH[@]:1}"; then
  fail "the HEALTHCHECK command passes against a closed port"
fi
say "the image's HEALTHCHECK passes (and fails against a closed port)"

# The root filesystem is read-only: writing anywhere but /data fails with EROFS, even as root inside, even in
# the world-writable /tmp; /data takes writes.
probe='const fs=require("node:fs");for(const f of process.argv.slice(1)){try{fs.writeFileSync(f,"x");fs.unlinkSync(f);console.log(f,"written")}catch(e){console.log(f,e.code)}}'
r=$(in_running node -e "$probe" /tmp/probe /app/probe /probe /data/probe)
[ "$r" = $'/tmp/probe EROFS\n/app/probe EROFS\n/probe EROFS\n/data/probe written' ] || fail "writes as the user: $r"
r=$(in_running --as-root node -e "$probe" /etc/probe /app/dist/probe)
[ "$r" = $'/etc/probe EROFS\n/app/dist/probe EROFS' ] || fail "writes as root inside: $r"
# SQLite's spill files (a temporary table larger than its cache) need a writable directory: without the image's
# SQLITE_TMPDIR=/data they fail (SQLite looks for /var/tmp, /usr/tmp, /tmp, then .); with it they work.
spill='const fs=require("node:fs"),D=require("/app/node_modules/@rocicorp/zero-sqlite3");const db=new D("/data/spill-probe.db");
db.pragma("temp_store=FILE");db.pragma("cache_size=-512");
try{db.exec("create temp table t(x); with recursive n(i) as (select 1 union all select i+1 from n where i<20000) insert into t select randomblob(500) from n");
console.log(db.prepare("select count(*) c from (select x from t order by x)").get().c)}catch(e){console.log(e.code)}finally{db.close();fs.rmSync("/data/spill-probe.db")}'
r=$(in_running /usr/bin/env -u SQLITE_TMPDIR node -e "$spill" 2>&1) || true
[ "$r" = SQLITE_IOERR_GETTEMPPATH ] || fail "without SQLITE_TMPDIR, a spill on the read-only root should fail: $r"
r=$(in_running node -e "$spill" 2>&1) || true
[ "$r" = 20000 ] || fail "SQLite could not spill a temporary table into SQLITE_TMPDIR with the root read-only: $r"
say "read-only root: EROFS on /, /tmp, /app, /etc (as the user and as root inside); /data writable; SQLite spills only with SQLITE_TMPDIR=/data"
# The metadata removal's tools run as the user on the read-only root (the server found them at start, or it would not
# have started); the doctor runs them the same way.
r=$(in_running /usr/bin/exiftool -config '' -ver 2>&1) || fail "exiftool does not run in the container: $r"
# The whole output first, then its first line: `| head -n1` closed the pipe under qpdf, whose SIGPIPE (with
# pipefail) failed a check that had passed, now and then.
q=$(in_running /usr/bin/qpdf --version 2>&1) || fail "qpdf does not run in the container: $q"
q=${q%%$'\n'*}
say "ExifTool $r and $q run in the container"

# ---- graceful stop ----------------------------------------------------------------------------------------------
# Background work: a forgot-password request answers 202 at once and mails (here: DATA_DIR/outbox) afterwards.
r=$(http POST /api/auth/password/forgot '{"username":"root"}')
[[ $r == 202* ]] || fail "POST /api/auth/password/forgot: $r"
# A request in flight: its headers and half its body are sent before SIGTERM, the rest after.
mkfifo "$work/go"
node - "$port" "$work/go" "$newpw" >"$work/inflight.out" 2>&1 <<'EOF' &
const net = require('node:net');
const fs = require('node:fs');
const [port, go, password] = process.argv.slice(2);
const body = JSON.stringify({ username: 'root', password });
const half = Math.floor(body.length / 2);
const sock = net.connect(Number(port), '127.0.0.1');
setTimeout(() => {
  console.log(`no answer within 60 s: ${JSON.stringify(answer)}`);
  process.exit(1);
}, 60000);
let answer = '';
// The status line and headers are the answer (the client keeps its side open: a half-close aborts a request).
sock.on('data', (d) => {
  answer += d;
  if (!answer.includes('\r\n\r\n')) return;
  console.log(`answer ${answer.split('\r\n')[0]}`);
  process.exit(0);
});
sock.on('end', () => {
  console.log(`closed after ${JSON.stringify(answer)}`);
  process.exit(1);
});
sock.on('error', (e) => {
  console.log(`error ${e.code}`);
  process.exit(1);
});
sock.write(
  `POST /api/auth/login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
  () => {
    console.log('sent half');
    fs.promises.readFile(go).then(() => sock.write(body.slice(half)));
  },
);
EOF
client_pid=$!
for _ in $(seq 1 100); do
  grep -q 'sent half' "$work/inflight.out" && break
  sleep 0.1
done
grep -q 'sent half' "$work/inflight.out" || fail "the in-flight client did not start: $(cat "$work/inflight.out")"
# The request is in flight once the server has read what was sent (its socket's receive queue is empty): the headers
# parsed, the body awaited. A fixed pause was not enough on a loaded machine (the connection still counted as idle).
inflight=
for _ in $(seq 1 100); do
  q=$(ss -tnH state established "( sport = :$port )" | awk '{print $1}')
  if [ "$q" = 0 ]; then
    inflight=1
    break
  fi
  sleep 0.1
done
[ -n "$inflight" ] || fail "the server did not read the in-flight request within 10 s (receive queue: ${q:-none})"
t_stop=$SECONDS
kill -TERM "$server_pid"
# New connections are refused once the server has handled the signal (polled: a loaded machine may take a while),
# while the request in flight keeps it running.
r=
for _ in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited with a request still in flight"
  r=$(http GET /healthz)
  [[ $r == "0 ECONNREFUSED" ]] && break
  sleep 0.1
done
[[ $r == "0 ECONNREFUSED" ]] || fail "new connections were still accepted 10 s after SIGTERM: $r"
kill -0 "$server_pid" 2>/dev/null || fail "the server exited with a request still in flight"
echo go 1<>"$work/go" # read-write: never blocks, even if the client is gone
wait "$client_pid" || true
grep -qx 'answer HTTP/1.1 200 OK' "$work/inflight.out" || fail "the request in flight did not finish with 200: $(cat "$work/inflight.out")"
rc=0
for _ in $(seq 1 100); do
  kill -0 "$unshare_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$unshare_pid" 2>/dev/null; then
  show_logs
  fail "still running 10 s after its last request (an engine would SIGKILL it)"
fi
wait "$unshare_pid" || rc=$?
server_pid=
[ "$rc" = 0 ] || {
  show_logs
  fail "exit status $rc after SIGTERM"
}
grep -q '"event":"system.stop","signal":"SIGTERM"' "$work/server.out" || fail "no system.stop line for SIGTERM"
ls "$data"/outbox/*.eml >/dev/null 2>&1 || fail "the background mail was not written before the exit"
say "SIGTERM: new connections refused, the request in flight answered 200, background mail written, exit 0 in $((SECONDS - t_stop)) s"
say "PASS (build ${build_s} s, image $image_size, total $SECONDS s)"
