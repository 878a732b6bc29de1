# Shared by the install-*.sh scripts that put pinned Python packages into a cached venv
# (sourced, not run). The caller sets `name` (e.g. `install-duckdb`), defines `die`, and calls
#
#   venv_install KIND REQUIREMENTS WAIT_SECONDS MESSAGE [CHECK_FUNCTION]
#
# The venv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-KIND-<key>, where <key> is the
# first 12 hex digits of the sha256 of REQUIREMENTS, so editing the pins gives a new venv and
# never a half-updated old one. A `.complete` marker is written only after pip succeeded and
# CHECK_FUNCTION (called with the venv path; it must `die` on failure) passed; without the
# marker the directory is deleted and rebuilt. An flock serialises installs, so test processes
# started at the same time install once and the others wait (at most WAIT_SECONDS). The last
# line on stdout is the venv path; progress goes to stderr. BLOBTIER_PYTHON (default `python3`)
# is the interpreter for the venv.

venv_install() {
    local kind=$1 requirements=$2 wait=$3 message=$4 check=${5:-}
    [[ -r "$requirements" ]] || die "cannot read \`$requirements\`"
    command -v sha256sum >/dev/null || die "\`sha256sum\` not found (coreutils)"
    command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
    local key cache venv marker python
    key="$(sha256sum "$requirements" | cut -c1-12)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/blobtier"
    venv="$cache/venv-$kind-$key"
    marker="$venv/.complete"
    python="${BLOBTIER_PYTHON:-python3}"

    # A venv is usable when its marker exists and its interpreter still starts (the base
    # interpreter it links to may have been removed or upgraded since).
    if [[ -f "$marker" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
        echo "$venv"
        return 0
    fi

    mkdir -p "$cache" || die "cannot create cache directory \`$cache\`"
    exec 9>"$venv.lock" || die "cannot open lock file \`$venv.lock\`"
    if ! flock -n 9; then
        echo "$name: another process is installing; waiting for \`$venv.lock\`" >&2
        flock -w "$wait" 9 || die "timed out after $((wait / 60)) min waiting for \`$venv.lock\` (another install hung?)"
    fi
    # Another process may have finished the install while this one waited.
    if [[ -f "$marker" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
        echo "$venv"
        return 0
    fi

    local start=$SECONDS
    echo "$name: $message; venv \`$venv\`" >&2
    rm -rf "$venv" || die "cannot remove incomplete venv \`$venv\`"
    command -v "$python" >/dev/null || die "\`$python\` not found; install Python 3.11 or set BLOBTIER_PYTHON"
    "$python" -m venv "$venv" >&2 ||
        die "\`$python -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install \
        --disable-pip-version-check --no-input --progress-bar off \
        --requirement "$requirements" >&2 ||
        die "\`pip install -r $requirements\` failed (see the pip output above; PyPI must be reachable)"
    if [[ -n "$check" ]]; then
        "$check" "$venv"
    fi
    touch "$marker" || die "cannot write \`$marker\`"
    echo "$name: done in $((SECONDS - start)) s" >&2
    echo "$venv"
}
