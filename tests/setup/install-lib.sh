# Sourced by tests/setup/install-apt.sh and tests/setup/install-venv.sh, never run on its own:
# what the two installers share. The installer sets `name` (the start of its messages) before
# sourcing this file, and defines `usable` (what it installs is there and works) before it calls
# `exit_if_usable` or `lock_install`.

# Says what failed, on stderr, and exits non-zero.
die() {
    echo "$name: error: $*" >&2
    exit 1
}

# Prints $1 (the installer's last line on stdout: what it installed) and exits 0 when `usable`.
exit_if_usable() {
    if usable; then
        echo "$1"
        exit 0
    fi
}

# Serialises installs: takes an flock on the lock file $1 (on fd 9, held until the installer
# exits), waiting at most $2 seconds for another process's install; then, since that install
# may have finished meanwhile, `exit_if_usable "$3"`.
lock_install() {
    local lock=$1 wait=$2
    command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
    exec 9>"$lock" || die "cannot open lock file \`$lock\`"
    if ! flock -n 9; then
        echo "$name: another process is installing; waiting for \`$lock\`" >&2
        flock -w "$wait" 9 ||
            die "timed out after $((wait / 60)) min waiting for \`$lock\` (another install hung?)"
    fi
    exit_if_usable "$3"
}
