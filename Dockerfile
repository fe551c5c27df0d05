# Container image for ovs-flood-exporter: the static binary of
# scripts/build.sh on an empty base, so no shell, no package manager and no
# Open vSwitch tools (the agent talks to OVS over its sockets and never runs
# ovs-appctl/ovs-ofctl). It needs no libc, CA certificates, time zones or
# /etc/passwd, and no registry: FROM scratch.
#
# Build (make image, i.e. scripts/image.sh, does this with podman):
#   scripts/build.sh
#   podman build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg REVISION=$(git rev-parse HEAD) \
#                -t localhost/ovs-flood-exporter:dev .
#
# Run (one per hypervisor, next to OVS; docker takes the same arguments):
#   podman run -d --name ovs-flood-exporter --restart unless-stopped \
#     --network host \
#     --read-only --cap-drop ALL --security-opt no-new-privileges \
#     -v /run/openvswitch:/run/openvswitch:ro \
#     localhost/ovs-flood-exporter:dev --ovs.rundir=/run/openvswitch
#
#   --network host   the agent reads per-device counters of the host's taps
#                    over netlink, which only shows the interfaces of the
#                    caller's network namespace (reading it needs no
#                    capability), and Prometheus scrapes it on the host's
#                    address. (--pid=host is not needed: the pid in
#                    ovs-vswitchd.pid only names the control socket.)
#   /run/openvswitch the OVS sockets. Read-only is enough: connect() on a unix
#                    socket checks the socket's permission bits, not the
#                    mount's read-only flag. Mount the directory, not single
#                    sockets, so sockets re-created by an OVS restart are seen.
#   root, no caps    the image runs as uid 0 because Debian/Ubuntu OVS creates
#                    its sockets root:root 0750 and connect() needs write
#                    permission on the socket, which only the owner has. It
#                    needs no capabilities: --cap-drop ALL.
#   --restart        the agent itself survives OVS restarts (it reconnects);
#                    this only covers the agent's own exit.
#
# What goes wrong, and the log line that says so (/metrics keeps serving,
# the source is down in ovs_flood_exporter_source_up):
#   - the rundir mounted without the sockets (wrong host path): unixctl
#     and ovsdb down (openflow then knows no bridge to read), the log names
#     the missing socket path;
#   - sockets owned by another user than the container's: "permission
#     denied" naming the socket;
#   - --netns.walk without the /run/netns mount or without SYS_ADMIN: one
#     line naming the mount or the capability; the container's own
#     namespace is still read.
#
# Reading counters of OVS ports moved into other network namespaces
# (Neutron qrouter-/snat-/qdhcp- namespaces) additionally needs:
#     -v /run/netns:/run/netns:ro,rslave --cap-add SYS_ADMIN
#     ... localhost/ovs-flood-exporter:dev --ovs.rundir=/run/openvswitch --netns.walk
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

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ovs-flood-exporter" \
      org.opencontainers.image.description="Prometheus exporter that detects unknown-unicast flooding in Open vSwitch" \
      org.opencontainers.image.source="https://github.com/ovs-flood-exporter/ovs-flood-exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY bin/ovs-flood-exporter /bin/ovs-flood-exporter
# Root on purpose, see the header: OVS's sockets are owner-only writable.
USER 0:0
EXPOSE 9742
ENTRYPOINT ["/bin/ovs-flood-exporter"]
