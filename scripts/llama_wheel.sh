#!/usr/bin/env bash
# Build (once) and install a portable llama-cpp-python wheel into the venv given as $1.
#
# pip's own wheel cache ignores CMAKE_ARGS, so a wheel built natively on one machine (or with
# other flags) would be reused silently. The wheel is kept instead in a project-owned cache whose
# folder name holds the version and a hash of the flags: other flags, another folder.
# Flags: no -march=native and no AMX (ggml's AMX kernels die with SIGILL on threads without tile
# permission); AVX2 + FMA + F16C is the baseline every x86-64 CPU since 2013 runs. AVX-512 is
# added, feature by feature, only where this CPU reports it (prompt processing about a third
# faster on an AVX-512 Xeon); a CPU without it computes other flags, so another wheel.
set -euo pipefail
venv="$1"
version="${LLAMA_CPP_VERSION:?set by the Makefile}"

cpu_has() { grep -m1 '^flags' /proc/cpuinfo | grep -qw "$1"; }

default_flags() {
    local flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
    flags+=" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF"
    if cpu_has avx512f && cpu_has avx512cd && cpu_has avx512vl && cpu_has avx512dq \
        && cpu_has avx512bw; then
        flags+=" -DGGML_AVX512=ON"
        if cpu_has avx512vbmi; then flags+=" -DGGML_AVX512_VBMI=ON"; fi
        if cpu_has avx512_vnni; then flags+=" -DGGML_AVX512_VNNI=ON"; fi
        if cpu_has avx512_bf16; then flags+=" -DGGML_AVX512_BF16=ON"; fi
    else
        flags+=" -DGGML_AVX512=OFF"
    fi
    printf '%s' "$flags"
}

flags="${LLAMA_CMAKE_ARGS:-$(default_flags)}"
key="$(printf '%s' "$version $flags" | sha256sum | cut -c1-12)"
cache="${HI_MOE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hi-moe/wheels}/llama-cpp-python-$version-$key"
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $version (portable: $flags); about 10 minutes on 2 cores"
    tmp="$(mktemp -d "${cache}.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$cache")"; mktemp -d "${cache}.tmp.XXXXXX"; })"
    trap 'rm -rf "$tmp"' EXIT
    CMAKE_ARGS="$flags" "$venv/bin/pip" wheel --quiet --no-cache-dir --no-deps \
        --wheel-dir "$tmp" "llama-cpp-python==$version"
    printf '%s\n' "$flags" >"$tmp/CMAKE_ARGS"
    chmod 755 "$tmp"
    rm -rf "$cache" && mv "$tmp" "$cache"
    trap - EXIT
fi
"$venv/bin/pip" install --quiet --no-deps --force-reinstall "$cache"/llama_cpp_python-*.whl
