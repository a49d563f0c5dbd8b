#!/bin/bash -eu
# mgr — builds every fuzz target of fuzz/ (fuzz/README.md) the way
# ClusterFuzzLite and OSS-Fuzz build them (.clusterfuzzlite/Dockerfile),
# or anywhere else given the same variables:
#   CC, CFLAGS          the compiler and all its flags: the sanitizers and the
#                       coverage instrumentation come from here, not from CMake
#   CXX, CXXFLAGS       (optional) link the targets with the C++ driver, as
#                       OSS-Fuzz asks for engines written in C++
#   LIB_FUZZING_ENGINE  what each fuzz target links as its engine
#   OUT                 gets the targets (fuzz_<name>), their seed corpora
#                       (fuzz_<name>_seed_corpus.zip, from fuzz/corpus), the
#                       dictionary (fuzz/mgr.dict) and options (max_len 4096)
#   SRC                 mgr's tree ($SRC/mgr, or $SRC itself), and the
#                       openssl/ and libcbor/ sources the Dockerfile fetched
#                       (without them, the system's OpenSSL 3 and libcbor)
#   WORK                scratch (default: a new temporary directory)
# For example, from the top of the tree:
#   CC=clang CFLAGS="-fsanitize=address,fuzzer-no-link" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out SRC=$PWD \
#   .clusterfuzzlite/build.sh
: "${CC:?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}" "${SRC:?}"
CFLAGS=${CFLAGS:-}
if [ -f "$SRC/mgr/fuzz/fuzz_dispatch.c" ]; then
  root=$SRC/mgr
elif [ -f "$SRC/fuzz/fuzz_dispatch.c" ]; then
  root=$SRC
else
  root=$PWD
fi
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK"
jobs=$(nproc)
gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
deps=$WORK/deps
extra=()

# OpenSSL 3, linked statically (the runner has no libssl3): built from
# source with CFLAGS when the image fetched it (MemorySanitizer needs every
# library instrumented; no-asm for the same reason), else the system's.
if [ -d "$SRC/openssl" ]; then
  if [ ! -f "$deps/lib/libcrypto.a" ]; then
    mkdir -p "$WORK/openssl"
    (cd "$WORK/openssl" &&
      "$SRC/openssl/Configure" linux-x86_64 no-shared no-tests no-asm \
        --prefix="$deps" --libdir=lib CC="$CC" CFLAGS="$CFLAGS" &&
      make -j"$jobs" build_libs >/dev/null && make install_dev >/dev/null)
  fi
  extra+=(-DOPENSSL_ROOT_DIR="$deps" -DOPENSSL_USE_STATIC_LIBS=TRUE)
else
  for a in /usr/lib/*/libcrypto.a /usr/lib/libcrypto.a /usr/local/lib*/libcrypto.a; do
    if [ -f "$a" ]; then
      extra+=(-DOPENSSL_USE_STATIC_LIBS=TRUE)
      break
    fi
  done
fi

# libcbor 0.8 for fuzz_diff, static, the same way (fuzz/libcbor.cmake finds
# it with pkg-config).
if [ -d "$SRC/libcbor" ]; then
  if [ ! -f "$deps/lib/libcbor.a" ]; then
    cmake -S "$SRC/libcbor" -B "$WORK/libcbor" "${gen[@]}" -DCMAKE_C_COMPILER="$CC" \
      -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_BUILD_TYPE=None -DBUILD_SHARED_LIBS=OFF \
      -DWITH_TESTS=OFF -DWITH_EXAMPLES=OFF -DSANITIZE=OFF -DCOVERAGE=OFF \
      -DCMAKE_INSTALL_PREFIX="$deps" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
    cmake --build "$WORK/libcbor" -j "$jobs" >/dev/null
    cmake --install "$WORK/libcbor" >/dev/null
  fi
  export PKG_CONFIG_PATH="$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fi

# mgr: the sanitizers from CFLAGS alone (MGR_FUZZ_FLAGS and
# MGR_FUZZ_LINK_FLAGS emptied), the engine from LIB_FUZZING_ENGINE; no
# tracing, tests, examples or tools; warnings not fatal (flags we do not
# control may warn).
if [ -n "${CXX:-}" ]; then
  extra+=(-DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_FLAGS="${CXXFLAGS:-$CFLAGS}"
    -DMGR_FUZZ_LINK_CXX=ON)
fi
cmake -S "$root" -B "$WORK/mgr" "${gen[@]}" -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_BUILD_TYPE=None -DCMAKE_PREFIX_PATH="$deps" \
  -DMGR_FUZZ=ON -DMGR_FUZZ_FLAGS= -DMGR_FUZZ_LINK_FLAGS= \
  -DMGR_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" -DMGR_TRACING=OFF -DMGR_BUILD_TESTS=OFF \
  -DMGR_BUILD_EXAMPLES=OFF -DMGR_BUILD_TOOLS=OFF -DMGR_WERROR=OFF "${extra[@]}" >/dev/null
cmake --build "$WORK/mgr" -j "$jobs" >/dev/null

n=0
for bin in "$WORK/mgr/fuzz"/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  t=$(basename "$bin")
  name=${t#fuzz_}
  cp "$bin" "$OUT/$t"
  cp "$root/fuzz/mgr.dict" "$OUT/$t.dict"
  printf '[libfuzzer]\nmax_len = 4096\n' >"$OUT/$t.options"
  rm -f "$OUT/${t}_seed_corpus.zip"
  if [ -d "$root/fuzz/corpus/$name" ]; then
    python3 - "$root/fuzz/corpus/$name" "$OUT/${t}_seed_corpus.zip" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(os.listdir(src)):
        p = os.path.join(src, f)
        if os.path.isfile(p):
            z.write(p, f)
PY
  fi
  n=$((n + 1))
done
echo "build.sh: $n fuzz targets in $OUT"
[ "$n" -gt 0 ]
