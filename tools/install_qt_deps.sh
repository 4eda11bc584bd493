#!/usr/bin/env bash
# Install the Debian libraries Qt 6 needs (offscreen and xcb platforms) when
# they are missing; does nothing on a machine that has them or is not Debian.
set -euo pipefail

# --- Debian libraries for Qt 6 (offscreen and xcb platforms) ---------------
# "a|b" means either package will do (b is the newer Debian name).
QT_DEBS=(
    libegl1 libgl1 libopengl0 libglx0
    libxkbcommon0 libxkbcommon-x11-0
    libdbus-1-3 libfontconfig1 libfreetype6
    "libglib2.0-0|libglib2.0-0t64"
    libx11-6 libx11-xcb1 libxcb1
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
    libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb-util1
)

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_qt_debs() {
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        echo "qt-deps: not a Debian-like system; skipping the Qt system libraries"
        return 0
    fi
    local missing=() entry alt found
    for entry in "${QT_DEBS[@]}"; do
        found=0
        IFS='|' read -r -a alts <<<"$entry"
        for alt in "${alts[@]}"; do
            if deb_installed "$alt"; then found=1; break; fi
        done
        if [[ $found == 0 ]]; then missing+=("$entry"); fi
    done
    if [[ ${#missing[@]} == 0 ]]; then
        echo "qt-deps: Qt system libraries already installed"
        return 0
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
            echo "qt-deps: missing ${missing[*]} and not root; Qt tests may fail" >&2
            return 0
        fi
    fi
    echo "qt-deps: installing missing Qt system libraries: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    local to_install=()
    for entry in "${missing[@]}"; do
        IFS='|' read -r -a alts <<<"$entry"
        for alt in "${alts[@]}"; do
            if apt-cache show "$alt" >/dev/null 2>&1; then to_install+=("$alt"); break; fi
        done
    done
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 "${to_install[@]}" </dev/null
}

install_qt_debs
