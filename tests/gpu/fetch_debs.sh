#!/usr/bin/env bash
# Downloads (here, on a Debian/Ubuntu machine with apt) the .deb files that
# tests/gpu/run.sh needs on a GPU machine that has no OpenBLAS, libpng, libjpeg
# or zlib development files and no network. run.sh unpacks them with dpkg -x
# into build-cuda/sysroot and builds against that folder; nothing is installed.
#
#   tests/gpu/fetch_debs.sh          (writes tests/gpu/debs/*.deb, git-ignored)
#
# Then carry the folder with the device tool:
#   run(command="tests/gpu/run.sh $OUT", carry=["tests/gpu/debs"], timeout_s=590)
#
# What is fetched, and why:
#   libopenblas-openmp-dev  cblas.h, openblas_config.h, libopenblas.so (OpenMP build)
#   libopenblas0-openmp     libopenblas.so.0, linked shared (rpath to the sysroot)
#   libgfortran5            libopenblas.so.0 needs libgfortran.so.5 ...
#   libquadmath0            ... which needs libquadmath.so.0 (libgomp comes with gcc)
#   libpng-dev              png.h and libpng.a     } linked statically: run.sh drops
#   libjpeg62-turbo-dev     jpeglib.h and libjpeg.a } their libX.so links in the
#   zlib1g-dev              zlib.h and libz.a       } sysroot, so no runtime .so
set -uo pipefail
cd "$(dirname "$0")" || exit 1
pkgs=(libopenblas-openmp-dev libopenblas0-openmp libgfortran5 libquadmath0
      libpng-dev libjpeg62-turbo-dev zlib1g-dev)
dest=debs
command -v apt-get >/dev/null || { echo "fetch_debs.sh: apt-get not found (run this on a Debian/Ubuntu machine)"; exit 1; }

# The GPU machine is x86-64: on another architecture, ask apt for amd64 packages
# with a private package list.
apt_opts=()
[ "$(id -u)" -eq 0 ] && apt_opts+=(-oAPT::Sandbox::User=root)   # root: no _apt download warning
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
if [ "$arch" != amd64 ]; then
    mkdir -p /tmp/am-apt-amd64/partial
    apt_opts+=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/am-apt-amd64)
    echo "fetch_debs.sh: host is $arch; fetching amd64 packages"
    apt-get "${apt_opts[@]}" update -qq || { echo "fetch_debs.sh: apt-get update failed"; exit 1; }
fi

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
get() { (cd "$dest.tmp" && apt-get "${apt_opts[@]}" download "${pkgs[@]}"); }
if ! get; then
    echo "fetch_debs.sh: apt-get download failed; running apt-get update and trying again"
    if ! apt-get "${apt_opts[@]}" update -qq || ! get; then
        echo "fetch_debs.sh: apt-get download failed"; rm -rf "$dest.tmp"; exit 1
    fi
fi
n=$(find "$dest.tmp" -maxdepth 1 -name '*.deb' | wc -l)
if [ "$n" -ne "${#pkgs[@]}" ]; then
    echo "fetch_debs.sh: expected ${#pkgs[@]} .deb files, got $n"; rm -rf "$dest.tmp"; exit 1
fi
# Plain names (PACKAGE.deb: no '%3a' or '+' from the versions) and a list of the versions.
for f in "$dest.tmp"/*.deb; do
    if ! p=$(dpkg-deb -f "$f" Package) || ! v=$(dpkg-deb -f "$f" Version) || ! a=$(dpkg-deb -f "$f" Architecture); then
        echo "fetch_debs.sh: cannot read $f"; rm -rf "$dest.tmp"; exit 1
    fi
    mv "$f" "$dest.tmp/$p.deb"
    echo "$p $v $a" >> "$dest.tmp/versions.txt"
done
rm -rf "$dest"
mv "$dest.tmp" "$dest"
ls -l "$dest"
cat "$dest/versions.txt"
bytes=$(cat "$dest"/*.deb | wc -c)
echo "fetch_debs.sh: $n packages, $(awk -v b="$bytes" 'BEGIN{printf "%.1f MiB", b/1048576}') in tests/gpu/$dest"
if [ "$bytes" -gt $((40 * 1048576)) ]; then
    echo "fetch_debs.sh: over 40 MiB: too large to carry"; exit 1
fi
