# One image with both binaries: libcluster-controller and libcluster-agent.
#   docker build -t ghcr.io/libcluster/libcluster:0.1.0 .
# The build stage runs the same scripts/install-deps and CMake build that CI runs.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j"$(nproc)" --target libcluster-controller libcluster-agent \
 && strip /build/controller/libcluster-controller /build/src/agent/libcluster-agent

# Runtime: only the shared libraries the binaries link (cpprestsdk, OpenSSL, c-ares, yaml-cpp),
# no compiler, no shell tools beyond Debian's base; a fixed non-root user.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcpprest2.10 libssl3 libc-ares2 libyaml-cpp0.7 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 libcluster && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin libcluster
COPY --from=build /build/controller/libcluster-controller /usr/local/bin/libcluster-controller
COPY --from=build /build/src/agent/libcluster-agent /usr/local/bin/libcluster-agent
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/libcluster-controller"]
