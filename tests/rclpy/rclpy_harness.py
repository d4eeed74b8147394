"""Real ROS 2 in the tests: the vatex_node executable started as launch_ros starts it, and an rclpy client.

Nothing here is a stand-in for ROS: the node runs in its own process from the ament index of the venv's
ROS prefix (``<prefix>/lib/vatex_ros/vatex_node``), with the command line launch_ros builds from
``launch/vatex.launch.py``; the client is an rclpy node on its own context in the test process. Every
process gets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a private ``ROS_DOMAIN_ID`` (Fast DDS: at
most 100, so its ports stay below Linux's ephemeral range).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from vatex_ros.rclpy.environment import has_ros_wheels, ros_environment, wheel_prefix

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "vatex_ros"
_DOMAINS = itertools.count()
_PR_SET_PDEATHSIG = 1


def not_ready_reason() -> str | None:
    """Why real ROS 2 cannot run here (what to install), or None when it can."""
    prefix = wheel_prefix()
    if not has_ros_wheels(prefix):
        return f"no ROS 2 wheels in {prefix}: pip install -e '.[test,ros]'"
    if not list((prefix / "lib").glob("python*/site-packages/vision_msgs/msg/__init__.py")):
        return f"vision_msgs not generated in {prefix}: run vatex ros-interfaces"
    if not (prefix / "lib" / PACKAGE / "vatex_node").exists():
        return f"vatex_ros not registered in {prefix}'s ament index: run vatex ros-interfaces"
    return None


def private_domain() -> int:
    """A ROS_DOMAIN_ID in 1..100 that differs per test process and per call (concurrent test runs)."""
    return 1 + (os.getpid() * 7 + next(_DOMAINS) * 31) % 100


def ros_env(domain: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for real ROS 2 on loopback only, on ``domain``."""
    env = dict(os.environ if base is None else base)
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; RANGE below says the same
    env.update(ros_environment(env))
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    return env


# --- the command line launch_ros builds ------------------------------------------------------------------


@contextlib.contextmanager
def client_environment(env: Mapping[str, str]):
    """This process's os.environ with ``env``'s ROS domain, discovery range, ament prefix and RMW (what an rclpy
    client in the test process reads), restored on exit."""
    saved = dict(os.environ)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "AMENT_PREFIX_PATH",
                                           "RMW_IMPLEMENTATION") if k in env})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def launch_node_description(**arguments: str) -> dict[str, Any]:
    """Evaluate launch/vatex.launch.py (launch/launch_ros are not on the registry: their API is recorded) and
    resolve its ``Node`` action with the launch arguments' defaults overridden by ``arguments``."""
    recorded = SimpleNamespace(defaults={}, node=None)

    class LaunchConfiguration:
        def __init__(self, name: str):
            self.name = name

    def declare(name: str, default_value: str, description: str) -> None:
        recorded.defaults[name] = default_value

    def node(**kwargs: Any) -> None:
        recorded.node = kwargs

    def parameter_value(value: Any, value_type: type) -> Any:
        return ("typed", value, value_type)

    stand_ins = {
        "ament_index_python.packages": SimpleNamespace(
            get_package_share_directory=lambda package: str(wheel_prefix() / "share" / package)),
        "launch": SimpleNamespace(LaunchDescription=list),
        "launch.actions": SimpleNamespace(DeclareLaunchArgument=declare),
        "launch.substitutions": SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        "launch_ros.actions": SimpleNamespace(Node=node),
        "launch_ros.parameter_descriptions": SimpleNamespace(ParameterValue=parameter_value),
    }
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        namespace: dict = {}
        exec(compile((ROOT / "launch" / "vatex.launch.py").read_text(), "vatex.launch.py", "exec"), namespace)
        namespace["generate_launch_description"]()
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    values = {**recorded.defaults, **arguments}

    def resolve(value: Any) -> Any:
        if isinstance(value, LaunchConfiguration):
            return values[value.name]
        if isinstance(value, tuple) and value[0] == "typed":  # ParameterValue: the string parsed as YAML
            parsed = yaml.safe_load(resolve(value[1]))
            assert isinstance(parsed, value[2]), f"{value[1].name}={parsed!r} is not {value[2].__name__}"
            return parsed
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(resolve(v) for v in value)
        return value

    return resolve(recorded.node)


def launch_command(node: Mapping[str, Any], workdir: Path) -> list[str]:
    """The command launch_ros runs for a resolved ``Node`` action (ament index lookup, --ros-args; a dict
    of parameters goes into a temporary parameters file keyed ``/**``, as launch_ros writes it)."""
    executable = wheel_prefix() / "lib" / node["package"] / node["executable"]
    command = [str(executable), "--ros-args", "-r", f"__node:={node['name']}",
               "-r", f"__ns:=/{node['namespace'].strip('/')}"]
    for index, entry in enumerate(node["parameters"]):
        if isinstance(entry, dict):
            path = workdir / f"launch_params_{index}.yaml"
            path.write_text(yaml.safe_dump({"/**": {"ros__parameters": entry}}))
            entry = path
        command += ["--params-file", str(entry)]
    for name, target in node["remappings"]:
        command += ["-r", f"{name}:={target}"]
    return command


class NodeProcess:
    """A node command in a child process (output in ``log``); always stopped: SIGINT, then SIGKILL.

    The child also dies with the test process (PR_SET_PDEATHSIG), so a killed test run leaves no node behind.
    """

    def __init__(self, command: list[str], env: Mapping[str, str], log: Path):
        self.command, self.env, self.log = command, dict(env), log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> NodeProcess:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL))
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (rclpy shuts down cleanly), SIGKILL after ``timeout``; returns the exit status.

        A clean exit of the node process (rclpy and Fast DDS shut down, torch unloaded) took 15.6 s on the 2-core
        machine with both cores busy and a start of 92 s; 60 s leaves room for that, so that a test's check of
        the exit status (0) does not fail on load.
        """
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        print(f"--- {self.command[0]} output ---\n{self.output()}")  # shown by pytest when a test fails


def shipped_params_with(changes: Mapping[str, Any], path: Path) -> Path:
    """config/vatex.yaml as shipped (its ``/**`` key included) with some values changed, written to ``path``."""
    document = yaml.safe_load((ROOT / "config" / "vatex.yaml").read_text())
    (key,) = document
    document[key]["ros__parameters"].update(changes)
    path.write_text(yaml.safe_dump(document))
    return path


# --- the client ---------------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class RosClient:
    """An rclpy node on its own context and domain, spun in a background thread; collects what it subscribes to.

    Args:
        domain: ROS_DOMAIN_ID.
        name: node name.
    """

    def __init__(self, domain: int, name: str = "vatex_test_client"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[float, Any]]] = {}
        self._clients: dict[tuple[type, str], Any] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, name="rclpy-test-client", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except (ExternalShutdownException, RuntimeError):  # context shut down while spinning
            pass

    def subscribe(self, topic: str, msg_type: type, qos: Any = 10) -> None:
        """Collect ``(time.time(), msg)`` of ``topic`` in ``received[topic]``."""
        self.received.setdefault(topic, [])

        def on_message(msg: Any) -> None:
            with self._lock:
                self.received[topic].append((time.time(), msg))

        self.node.create_subscription(msg_type, topic, on_message, qos)

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return [msg for _, msg in self.received.get(topic, [])]

    def call(self, service_type: type, name: str, request: Any, timeout: float = 60.0,
             attempt_timeout: float = 5.0) -> Any:
        """Call an idempotent service (get_state, get/set_parameters) as a robust ROS client does: wait until the
        service is there, and re-send a request whose answer did not come within ``attempt_timeout`` s, until an
        answer or ``timeout`` s.

        Why re-send: ``wait_for_service`` returns once *this* side has matched the service's request reader and
        response writer, but the service's response writer may not have matched our response reader yet (DDS
        discovery is per side). Fast DDS then drops the answer (``failed to send response (timeout): client will
        not receive response``, rmw_response.cpp) and the call never completes; nav2's lifecycle manager meets
        the same on ``change_state``. A request sent again after discovery has finished is answered. Only
        idempotent requests may be re-sent (a second answer changes nothing); see :meth:`change_state`.
        """
        client = self._client(service_type, name)
        deadline = time.monotonic() + timeout
        assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available within {timeout} s"
        while True:
            future = client.call_async(request)
            wait_until(future.done, min(attempt_timeout, max(0.0, deadline - time.monotonic())))
            if future.done():
                return future.result()
            client.remove_pending_request(future)  # its answer, if it still comes, is dropped
            assert time.monotonic() < deadline, f"no answer from {name} within {timeout} s"

    def change_state(self, node: str, transition: Any, goal: str, timeout: float = 300.0,
                     attempt_timeout: float = 10.0) -> bool:
        """Ask lifecycle node ``node`` for a transition (``lifecycle_msgs/Transition``'s id) whose goal state is
        ``goal`` (label, e.g. ``inactive``); True when the node answered success or is seen in ``goal``.

        A change_state request is not idempotent (sent twice, the second is refused from the new state), so a
        lost answer (see :meth:`call`) is not met by re-sending blindly: while no answer comes the node's state
        is read with get_state; the goal state there means the transition happened; the start state, for longer
        than ``attempt_timeout`` s since the request, means the request was not heard and it is sent again.
        """
        from lifecycle_msgs.srv import ChangeState

        client = self._client(ChangeState, f"{node}/change_state")
        deadline = time.monotonic() + timeout
        assert client.wait_for_service(timeout_sec=timeout), f"service {node}/change_state not available"
        request = ChangeState.Request()
        request.transition.id = transition
        start = self.get_state(node)
        future, sent = client.call_async(request), time.monotonic()
        while time.monotonic() < deadline:
            if wait_until(future.done, 1.0):
                return bool(future.result().success)
            state = self.get_state(node)
            if state == goal:
                client.remove_pending_request(future)
                return True
            if state == start and time.monotonic() - sent > attempt_timeout:
                client.remove_pending_request(future)
                future, sent = client.call_async(request), time.monotonic()
        return False

    def get_state(self, node: str, timeout: float = 300.0) -> str:
        """Label of the lifecycle state of ``node`` (``unconfigured``, ``inactive``, ``active``, ``finalized``...)."""
        from lifecycle_msgs.srv import GetState

        return self.call(GetState, f"{node}/get_state", GetState.Request(), timeout=timeout).current_state.label

    def _client(self, service_type: type, name: str) -> Any:
        """One client per service for the life of this node: discovery is paid once, not on every call."""
        key = (service_type, name)
        if key not in self._clients:
            self._clients[key] = self.node.create_client(service_type, name)
        return self._clients[key]

    def close(self) -> None:
        self.context.try_shutdown()
        self._thread.join(timeout=5)
        self.node.destroy_node()


# --- a scene whose truth is known ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownScene:
    """One synthetic frame, the expression naming one object, its true mask and depth (the demo's generator), and an
    expression naming something not in the frame (the demo's absent moment of the same scene)."""

    rgb: Any  # (H, W, 3) uint8
    expression: str
    truth: Any  # (H, W) bool, the named object's visible pixels
    depth_m: float  # the named object's depth
    config: Any  # DemoConfig: camera size and depths
    absent_expression: str  # names nothing in ``rgb``; the embedded model scores it below 0.5 there


def known_scene(max_steps: int = 40) -> KnownScene:
    """The first frame of the demo script that the embedded model segments right when called directly
    (IoU > 0.5) and where it scores the scene's absent expression below its calibrated threshold, so node tests
    check the node, not the model (tests/training measures the model)."""
    from training.metrics import mask_iou
    from vatex_core import Predictor
    from vatex_ros.tools.demo_stream import DemoConfig, build_script, object_depths

    config = DemoConfig(frames=max_steps, frames_per_target=1, targets_per_scene=2)
    scenes, steps = build_script(config)
    predictor = Predictor.from_pretrained()
    for step in steps:
        scene = scenes[step.scene]
        absent = [s.expression for s in steps if s.absent and s.scene == step.scene]
        if step.absent or not absent:
            continue
        rgb, truth = scene.load_frames([step.frame])[0], scene.load_mask(step.object_id, [step.frame])[0]
        if (truth.sum() > 50 and mask_iou(predictor.predict(rgb, step.expression).mask, truth) > 0.5
                and predictor.predict(rgb, absent[0]).score < 0.5):
            return KnownScene(rgb, step.expression, truth, object_depths(config, scene)[step.object_id], config,
                              absent[0])
    raise AssertionError(f"the embedded model segments none of the first {max_steps} demo frames")


def borderline_frame(scene: KnownScene, low: float, high: float, encode: Callable[[Any], Any] = lambda rgb: rgb,
                     decode: Callable[[Any], Any] = lambda frame: frame,
                     max_scenes: int = 20) -> tuple[Any, Any, float]:
    """Frames on which the embedded model scores ``scene.absent_expression`` between ``low`` and ``high``, and high.

    The scene's frame (where the expression names nothing, score < 0.5) is blended with a demo frame where the
    model finds what it names (score >= ``high`` + 0.1); bisection on the blend weight finds a frame whose score
    lies in the band's middle three fifths: a frame that only the right found threshold classifies right.
    ``encode``/``decode`` give the frame as the node will see it (e.g. JPEG and back); the search scores the
    decoded pixels.

    Returns:
        ``(borderline frame, present frame, borderline score)``, frames encoded.
    """
    import numpy as np
    from vatex_core import Predictor
    from vatex_ros.tools.demo_stream import DemoConfig, build_script

    predictor = Predictor.from_pretrained()
    expression, margin = scene.absent_expression, 0.2 * (high - low)

    def scored(rgb: Any) -> tuple[Any, float]:
        frame = encode(rgb)
        return frame, predictor.predict(decode(frame), expression).score

    scenes, _ = build_script(DemoConfig(frames=3 * max_scenes, frames_per_target=1, targets_per_scene=2))
    for candidate in scenes[:max_scenes]:
        other = candidate.load_frames([0])[0]
        present, present_score = scored(other)
        if other.shape != scene.rgb.shape or present_score < high + 0.1:
            continue
        lo, hi = 0.0, 1.0  # weight of ``other``: score below the band at lo, above it at hi
        for _ in range(14):
            weight = (lo + hi) / 2
            frame, score = scored(np.clip(np.round(weight * other + (1 - weight) * scene.rgb), 0, 255).astype(np.uint8))
            if low + margin <= score < high - margin:
                return frame, present, score
            lo, hi = (weight, hi) if score < (low + high) / 2 else (lo, weight)
    raise AssertionError(f"no blend of the first {max_scenes} demo frames scores {expression!r} in [{low}, {high})")
