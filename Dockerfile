# syntax=docker/dockerfile:1
#
# Container image for ovs-flood-exporter: a static Go binary on a base with
# no shell, no package manager and no Open vSwitch tools (the agent talks to
# OVS over its sockets and never runs ovs-appctl/ovs-ofctl).
#
# Build:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg REVISION=$(git rev-parse HEAD) \
#                -t ovs-flood-exporter:dev .
#
# Run (one per hypervisor, next to OVS):
#   docker run -d --name ovs-flood-exporter --restart unless-stopped \
#     --network host \
#     --read-only --cap-drop ALL --security-opt no-new-privileges \
#     -v /run/openvswitch:/run/openvswitch:ro \
#     ovs-flood-exporter:dev --ovs.rundir=/run/openvswitch
#
#   --network host   the agent reads per-device counters of the host's taps
#                    over netlink, which only shows the interfaces of the
#                    caller's network namespace, and Prometheus scrapes it
#                    on the host's address. (--pid=host is not needed: the
#                    pid in ovs-vswitchd.pid only names the control socket.)
#   /run/openvswitch the OVS sockets. Read-only is enough: connect() on a unix
#                    socket checks the socket's permission bits, not the
#                    mount's read-only flag. Mount the directory, not single
#                    sockets, so sockets re-created by an OVS restart are seen.
#   root, no caps    the image runs as uid 0 because Debian/Ubuntu OVS creates
#                    its sockets root:root 0750 and connect() needs write
#                    permission on the socket, which only the owner has. It
#                    needs no capabilities: --cap-drop ALL.
#
# Reading counters of OVS ports moved into other network namespaces
# (Neutron qrouter-/snat-/qdhcp- namespaces) additionally needs:
#     -v /run/netns:/run/netns:ro,rslave --cap-add SYS_ADMIN
#     ... ovs-flood-exporter:dev --ovs.rundir=/run/openvswitch --netns.walk
#   rslave           namespaces created after the container started must
#                    propagate into it; with the default private propagation
#                    they show up as empty files and setns() fails.
#   SYS_ADMIN        setns(CLONE_NEWNET) requires CAP_SYS_ADMIN both in the
#                    caller's user namespace and in the one owning the target
#                    namespace. With --network host and without user-namespace
#                    remapping the container is in the host's user namespace,
#                    so the capability applies; under userns-remap (or rootless
#                    Docker/Podman) it does not, and namespace walking cannot
#                    work there. Docker's default seccomp profile allows
#                    setns() once SYS_ADMIN is added. SYS_ADMIN is a broad
#                    capability: leave it out unless you need those ports.
#
# The image has no HEALTHCHECK (there is no shell or curl in it); let the
# orchestrator probe http://<host>:9742/metrics instead.

ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
# Use --build-arg BASE_IMAGE=scratch where gcr.io is not reachable: the
# binary needs no libc, CA certificates, time zones or /etc/passwd.
ARG BASE_IMAGE=gcr.io/distroless/static-debian12

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Dependencies first, so that source edits do not invalidate this layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
# The package whose variables carry the version (prometheus/common/version
# feeds ovs_flood_exporter_build_info and --version).
ARG VERSION_PKG=github.com/prometheus/common/version
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X ${VERSION_PKG}.Version=${VERSION} \
        -X ${VERSION_PKG}.Revision=${REVISION} \
        -X ${VERSION_PKG}.Branch=${BRANCH} \
        -X ${VERSION_PKG}.BuildUser=docker \
        -X ${VERSION_PKG}.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
      -o /out/ovs-flood-exporter ./cmd/ovs-flood-exporter

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="ovs-flood-exporter" \
      org.opencontainers.image.description="Prometheus exporter that detects unknown-unicast flooding in Open vSwitch" \
      org.opencontainers.image.source="https://github.com/ovs-flood-exporter/ovs-flood-exporter"
COPY --from=build /out/ovs-flood-exporter /bin/ovs-flood-exporter
# Root on purpose, see the header: OVS's sockets are owner-only writable.
USER 0:0
EXPOSE 9742
ENTRYPOINT ["/bin/ovs-flood-exporter"]
