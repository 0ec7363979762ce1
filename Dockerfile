# One image with both binaries: libcluster-controller and libcluster-agent.
#   docker build -t ghcr.io/libcluster/libcluster:0.1.0 --build-arg LIBCLUSTER_GIT_COMMIT=$(git rev-parse --short=12 HEAD) .
# or, without Docker or a registry: scripts/image (docs/image.md).
# The build stage runs the same scripts/install-deps and CMake build that CI runs.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps \
 && apt-get install -y -qq --no-install-recommends ccache \
 && rm -rf /var/lib/apt/lists/*
COPY . .
# .git is not copied (.dockerignore), so the commit that --version prints comes in as an argument.
ARG LIBCLUSTER_GIT_COMMIT=
# ccache's directory is a build cache mount: it never reaches a layer, and a rebuild after a small
# change recompiles only what changed. (scripts/image may point CCACHE_DIR at a host cache instead.)
ARG CCACHE_DIR=/root/.cache/ccache
RUN --mount=type=cache,target=/root/.cache/ccache \
    export CCACHE_DIR="${CCACHE_DIR}" CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1 \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DLIBCLUSTER_GIT_COMMIT="${LIBCLUSTER_GIT_COMMIT}" \
 && cmake --build build -j"$(nproc)" --target libcluster-controller libcluster-agent \
 && strip build/controller/libcluster-controller build/src/agent/libcluster-agent

# The runtime root filesystem, distroless-style: Debian's own files of the packages the binaries
# load (cpprestsdk, OpenSSL, c-ares, yaml-cpp, cpp-httplib, prometheus-cpp and what they depend on), the CA certificates, the
# package records (for scanners), and a passwd/group naming the non-root user. No shell, no
# package manager, no coreutils.
FROM debian:12-slim AS runtime-root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcpprest2.10 libssl3 libc-ares2 libyaml-cpp0.7 libcpp-httplib0.11 libprometheus-cpp-core1.0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    packages="base-files libc6 libgcc-s1 libstdc++6 zlib1g libbrotli1 libssl3 libcpprest2.10 libc-ares2 libyaml-cpp0.7 libcpp-httplib0.11 libprometheus-cpp-core1.0 ca-certificates"; \
    mkdir -p /rootfs/usr/bin /rootfs/usr/sbin /rootfs/usr/lib /rootfs/usr/lib64 /rootfs/usr/local/bin \
      /rootfs/etc/ssl /rootfs/var/lib/dpkg/status.d; \
    for d in bin sbin lib lib64; do ln -s usr/$d /rootfs/$d; done; \
    install -d -m 1777 /rootfs/tmp; \
    for p in $packages; do dpkg-query -L "$p"; done \
      | grep -v '/gconv/' | grep -E '^/(usr/)?(lib|lib64)/|^/usr/share/(ca-certificates|doc/[^/]+/copyright)|^/etc/(os-release|ssl/)' \
      | sort -u | while read -r f; do [ -d "$f" ] || printf '%s\n' "${f#/}"; done >/tmp/files; \
    tar -C / --no-recursion -cf - -T /tmp/files | tar -C /rootfs --keep-directory-symlink -xf -; \
    cp -a /etc/ssl/certs /rootfs/etc/ssl/; \
    for p in $packages; do dpkg-query -s "$p" >"/rootfs/var/lib/dpkg/status.d/$p"; done; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nlibcluster:x:65532:65532:libcluster:/nonexistent:/usr/sbin/nologin\n' >/rootfs/etc/passwd; \
    printf 'root:x:0:\nlibcluster:x:65532:\n' >/rootfs/etc/group; \
    printf 'hosts: files dns\n' >/rootfs/etc/nsswitch.conf
COPY --from=build /src/build/controller/libcluster-controller /rootfs/usr/local/bin/libcluster-controller
COPY --from=build /src/build/src/agent/libcluster-agent /rootfs/usr/local/bin/libcluster-agent
# Fails the build if a binary needs a library that is not in the runtime root.
RUN for b in libcluster-controller libcluster-agent; do \
      chroot /rootfs /usr/local/bin/$b --version || exit 1; \
    done

FROM scratch
COPY --from=runtime-root /rootfs /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/libcluster-controller"]
