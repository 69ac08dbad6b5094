"""A small client of the Kubernetes container runtime interface (CRI), over gRPC, as kubelet
drives a runtime: what bench's cri-pod workload and tests/orchestrators/ use to run pods under
containerd's CRI plugin with the lxbrand and runc runtime handlers.

The messages are described in bench/cri_api.proto (the subset of runtime.v1 used here, numbered
as the public API definition) and compiled when first needed by grpcio-tools' protoc
(`grpc.protos_and_services`), so no generated code is kept in the tree.  Needs `grpcio`,
`grpcio-tools` and `protobuf` from PyPI (.ci/setup-orchestrators.sh installs them).

    c = Client("unix:///run/lxbrand-cri/containerd.sock")
    pod = c.pod_config("web", annotations={"org.lxbrand.policy": "strict"})
    pid = c.run_pod(pod, handler="lxbrand")
    cid = c.create_container(pid, pod, "app", "localhost/lxbrand-test/busybox:latest", ["sleep", "60"])
    c.start_container(cid)
    r = c.exec_sync(cid, ["echo", "hi"])          # r.stdout == b"hi\\n", r.exit_code == 0
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

# The endpoint .ci/setup-orchestrators.sh starts (a containerd of its own, not Docker's).
DEFAULT_ENDPOINT = "unix:///run/lxbrand-cri/containerd.sock"
ENDPOINT = os.environ.get("LXBRAND_CRI_ENDPOINT", DEFAULT_ENDPOINT)
NAMESPACE = "lxbrand-test"          # the Kubernetes namespace our pods claim (metadata only)

_api = None


def api():
    """(messages, services) modules compiled from cri_api.proto; ImportError says what to install."""
    global _api
    if _api is None:
        try:
            import grpc
            import grpc_tools  # noqa: F401 - protos_and_services needs it; say so up front
        except ImportError as e:
            raise ImportError(f"the CRI client needs grpcio and grpcio-tools ({e}); "
                              "pip install grpcio grpcio-tools protobuf") from None
        # protos_and_services resolves the file against sys.path: the repository root.
        root = str(Path(__file__).resolve().parent.parent)
        import sys
        if root not in sys.path:
            sys.path.append(root)
        _api = grpc.protos_and_services("bench/cri_api.proto")
    return _api


class CRIError(Exception):
    """A CRI call that failed: which call, gRPC's status code name and containerd's message."""

    def __init__(self, method: str, code: str, details: str):
        super().__init__(f"{method}: {code}: {details}")
        self.method, self.code, self.details = method, code, details


class Client:
    def __init__(self, endpoint: str = ENDPOINT, timeout: float = 120.0):
        import grpc
        self.pb, services = api()
        self.endpoint, self.timeout = endpoint, timeout
        self.channel = grpc.insecure_channel(endpoint)
        self.runtime = services.RuntimeServiceStub(self.channel)
        self.images = services.ImageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, stub, method: str, request, timeout: float | None = None):
        import grpc
        try:
            return getattr(stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise CRIError(method, e.code().name, e.details() or "") from None

    def rt(self, method: str, request, timeout: float | None = None):
        return self._call(self.runtime, method, request, timeout)

    # --- the calls kubelet makes, in its order --------------------------------------------

    def version(self):
        return self.rt("Version", self.pb.VersionRequest(version="v1"))

    def ready(self, timeout: float = 5.0) -> str | None:
        """None if the endpoint answers Version, else why not (one line)."""
        try:
            self.rt("Version", self.pb.VersionRequest(version="v1"), timeout=timeout)
        except CRIError as e:
            return f"{self.endpoint}: {e}"
        return None

    def pod_config(self, name: str, annotations: dict | None = None, network: str = "node",
                   log_directory: str | None = None, labels: dict | None = None,
                   pid: str = "container"):
        """A PodSandboxConfig as kubelet builds one. NETWORK: "node" (the host's, hostNetwork:
        true) or "pod" (a network namespace of the pod's own, set up by CNI); PID: "container"
        (each container its own pid namespace, Kubernetes' default) or "shared"
        (shareProcessNamespace: true)."""
        pb = self.pb
        uid = uuid.uuid4().hex
        mode = {"node": pb.NODE, "pod": pb.POD}[network]
        ns = pb.NamespaceOption(network=mode, pid=pb.POD if pid == "shared" else pb.CONTAINER,
                                ipc=pb.POD)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=NAMESPACE, attempt=0),
            hostname=name if network == "pod" else "",
            log_directory=log_directory or "",
            labels=labels or {},
            annotations=annotations or {},
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))

    def run_pod(self, config, handler: str = "") -> str:
        return self.rt("RunPodSandbox", self.pb.RunPodSandboxRequest(
            config=config, runtime_handler=handler)).pod_sandbox_id

    def pod_status(self, pod_id: str, verbose: bool = False):
        return self.rt("PodSandboxStatus", self.pb.PodSandboxStatusRequest(
            pod_sandbox_id=pod_id, verbose=verbose))

    def list_pods(self):
        return list(self.rt("ListPodSandbox", self.pb.ListPodSandboxRequest()).items)

    def stop_pod(self, pod_id: str) -> None:
        self.rt("StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))

    def remove_pod(self, pod_id: str) -> None:
        self.rt("RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))

    def container_config(self, name: str, image: str, command: list[str], args=(),
                         env: dict | None = None, log_path: str = "", annotations=None,
                         mounts=(), run_as_user: int | None = None, readonly_rootfs=False,
                         memory: int = 0, cpu_quota: int = 0, cpu_period: int = 0,
                         pid: str = "container", attempt: int = 0,
                         working_dir: str = ""):
        """A ContainerConfig as kubelet builds one from a pod spec's container. MOUNTS:
        (container path, host path, read-only) triples; PID: "container" or "shared"."""
        pb = self.pb
        ns = pb.NamespaceOption(network=pb.POD, pid=pb.POD if pid == "shared" else pb.CONTAINER,
                                ipc=pb.POD)
        sc = pb.LinuxContainerSecurityContext(namespace_options=ns,
                                              readonly_rootfs=readonly_rootfs)
        if run_as_user is not None:
            sc.run_as_user.value = run_as_user
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=attempt),
            image=pb.ImageSpec(image=image), command=list(command), args=list(args),
            working_dir=working_dir,
            envs=[pb.KeyValue(key=k, value=v) for k, v in (env or {}).items()],
            mounts=[pb.Mount(container_path=c, host_path=h, readonly=ro) for c, h, ro in mounts],
            annotations=annotations or {}, log_path=log_path,
            linux=pb.LinuxContainerConfig(
                resources=pb.LinuxContainerResources(memory_limit_in_bytes=memory,
                                                     cpu_quota=cpu_quota, cpu_period=cpu_period),
                security_context=sc))

    def create_container(self, pod_id: str, pod_config, name: str, image: str,
                         command: list[str], **kw) -> str:
        cfg = self.container_config(name, image, command, **kw)
        return self.rt("CreateContainer", self.pb.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=cfg, sandbox_config=pod_config)).container_id

    def start_container(self, cid: str) -> None:
        self.rt("StartContainer", self.pb.StartContainerRequest(container_id=cid))

    def container_status(self, cid: str, verbose: bool = False):
        return self.rt("ContainerStatus", self.pb.ContainerStatusRequest(
            container_id=cid, verbose=verbose))

    def list_containers(self, pod_id: str = ""):
        f = self.pb.ContainerFilter(pod_sandbox_id=pod_id)
        return list(self.rt("ListContainers", self.pb.ListContainersRequest(filter=f)).containers)

    def exec_sync(self, cid: str, cmd: list[str], timeout: int = 30):
        return self.rt("ExecSync", self.pb.ExecSyncRequest(container_id=cid, cmd=list(cmd),
                                                             timeout=timeout),
                       timeout=timeout + 30)

    def update_resources(self, cid: str, memory: int = 0, cpu_quota: int = 0,
                         cpu_period: int = 0) -> None:
        """UpdateContainerResources (in-place resize): the runtime's `update` verb."""
        self.rt("UpdateContainerResources", self.pb.UpdateContainerResourcesRequest(
            container_id=cid, linux=self.pb.LinuxContainerResources(
                memory_limit_in_bytes=memory, cpu_quota=cpu_quota, cpu_period=cpu_period)))

    def stop_container(self, cid: str, timeout: int = 10) -> None:
        self.rt("StopContainer", self.pb.StopContainerRequest(container_id=cid, timeout=timeout),
                timeout=timeout + 60)

    def remove_container(self, cid: str) -> None:
        self.rt("RemoveContainer", self.pb.RemoveContainerRequest(container_id=cid))

    def image_status(self, image: str):
        r = self._call(self.images, "ImageStatus",
                       self.pb.ImageStatusRequest(image=self.pb.ImageSpec(image=image)))
        return r.image if r.HasField("image") else None

    def pull_image(self, image: str) -> str:
        return self._call(self.images, "PullImage", self.pb.PullImageRequest(
            image=self.pb.ImageSpec(image=image))).image_ref

    def remove_image(self, image: str) -> None:
        """RemoveImage: the image and every other name of the same image id."""
        self._call(self.images, "RemoveImage", self.pb.RemoveImageRequest(
            image=self.pb.ImageSpec(image=image)))

    def remove_pod_fully(self, pod_id: str) -> None:
        """Stop and remove a pod and its containers, as kubelet does on deletion; errors of a
        pod already gone are ignored (NotFound)."""
        for call in (self.stop_pod, self.remove_pod):
            try:
                call(pod_id)
            except CRIError as e:
                if e.code != "NOT_FOUND":
                    raise
