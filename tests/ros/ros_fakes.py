"""Test doubles and helpers for the ROS-side tests (imported by conftest.py and the tests)."""

import functools
import itertools
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO

import numpy as np

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@dataclass
class FakePrediction:
    mask: np.ndarray
    score: float
    box: tuple | None = None
    heatmap: np.ndarray = field(default_factory=lambda: np.zeros((4, 4), np.float32))
    timings: dict = field(default_factory=lambda: {"model": 0.001})
    found: bool = True
    target_id: int = 0


class FakeSession:
    """Segments the pixels of the colour named in the expression (red, green or blue).

    Like a temporal ``StreamSession``: its found predictions carry the session's target id (1, 2, ...
    per predictor), and a stamp going back resets it (counted in ``resets``; the next found frame gets a new id).
    """

    def __init__(self, predictor: "FakePredictor", expression: str, max_gap: float):
        self.predictor, self.expression, self.max_gap = predictor, expression, max_gap
        self.colour = next((c for name, c in COLOURS.items() if name in expression), None)
        self.resets: Counter[str] = Counter()
        self.stamps: list[float | None] = []
        self._target_id = 0

    def step(self, image: np.ndarray, stamp: float | None = None) -> FakePrediction:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        self.predictor.frames.append(image.shape)
        if stamp is not None and self.stamps and self.stamps[-1] is not None and stamp < self.stamps[-1]:
            self.resets["stamp_backwards"] += 1
            self._target_id = 0
        self.stamps.append(stamp)
        if self.predictor.delay:
            time.sleep(self.predictor.delay)
        mask = np.all(image == self.colour, axis=2) if self.colour else np.zeros(image.shape[:2], bool)
        if mask.any() and not self._target_id:
            self._target_id = next(self.predictor.target_ids)
        return FakePrediction(mask=mask, score=0.9 if mask.any() else 0.05, found=bool(mask.any()),
                              target_id=self._target_id if mask.any() else 0)


class FakePredictor:
    """Stands in for vatex_core.Predictor: ``stream(expression, max_gap).step(rgb, stamp)``."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.streams: list[str] = []
        self.sessions: list[FakeSession] = []
        self.frames: list[tuple] = []
        self.batches: list[list] = []  # step_batch calls (a single session is stepped alone)
        self.target_ids = itertools.count(1)

    def stream(self, expression: str, max_gap: float = 1.0) -> FakeSession:
        if not expression.strip():
            raise ValueError("empty expression")
        self.streams.append(expression)
        self.sessions.append(FakeSession(self, expression, max_gap))
        return self.sessions[-1]

    def step_batch(self, sessions: list, images: list, stamps: list) -> list[FakePrediction]:
        """Like ``Predictor.step_batch``: records each call as ``batches[i]`` = [(session, id(image)), ...]."""
        assert len(sessions) == len(images) == len(stamps) and len({id(s) for s in sessions}) == len(sessions)
        self.batches.append([(session, id(image)) for session, image in zip(sessions, images)])
        return [session.step(image, stamp) for session, image, stamp in zip(sessions, images, stamps)]


class FakeClock:
    """A settable clock: ``clock()`` returns ``clock.now``."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def scene(height: int = 48, width: int = 64) -> np.ndarray:
    """RGB frame with a red square (left) and a blue square (right) on grey."""
    rgb = np.full((height, width, 3), 128, np.uint8)
    rgb[10:20, 5:15] = COLOURS["red"]
    rgb[25:40, 40:60] = COLOURS["blue"]
    return rgb


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def frame_msg(rgb: np.ndarray, stamp: float = 0.0, frame_id: str = "camera"):
    """sensor_msgs/Image rgb8 of ``rgb`` stamped ``stamp`` seconds."""
    from vatex_ros.messages.images import array_to_image
    from vatex_ros.messages.idl import Header, Time

    sec = int(stamp)
    header = Header(stamp=Time(sec=sec, nanosec=int(round((stamp - sec) * 1e9))), frame_id=frame_id)
    return array_to_image(rgb, "rgb8", header)


class DdsProbe:
    """The other side of the node on DDS: writes images/expressions (and depth/camera_info), collects every output
    topic."""

    def __init__(self, participant, namespace: str = "/vatex", image_topic: str = "image"):
        from cyclonedds.core import Listener
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        from vatex_ros.node import topics
        from vatex_ros.dds.transport import dds_qos, dds_type

        def name(relative: str) -> str:
            return "rt" + topics.resolve(relative, namespace)

        outputs = (topics.MASK, topics.DETECTIONS, topics.OVERLAY, topics.ACTIVE_EXPRESSION, *topics.DEPTH_OUTPUTS)
        self.received: dict[str, list] = {t.name: [] for t in outputs}
        self._readers = []
        for topic in outputs:
            sink = self.received[topic.name]
            reader = DataReader(participant, Topic(participant, name(topic.name), dds_type(topic)),
                                qos=dds_qos(topic, 10))
            reader.set_listener(Listener(on_data_available=lambda r, s=sink: r is not None and s.extend(r.take(100))))
            sink.extend(reader.take(100))
            self._readers.append(reader)
        self.image = DataWriter(participant, Topic(participant, name(image_topic), dds_type(topics.IMAGE)),
                                qos=dds_qos(topics.IMAGE, 1))
        self.expression = DataWriter(participant, Topic(participant, name("expression"), dds_type(topics.EXPRESSION)),
                                     qos=dds_qos(topics.EXPRESSION, 10))
        self.depth = DataWriter(participant, Topic(participant, name("depth"), dds_type(topics.DEPTH)),
                                qos=dds_qos(topics.DEPTH, 1))
        self.camera_info = DataWriter(participant, Topic(participant, name("camera_info"),
                                                         dds_type(topics.CAMERA_INFO)),
                                      qos=dds_qos(topics.CAMERA_INFO, 1))

    def say(self, text: str, timeout: float = 300.0) -> None:
        """Publish an expression once the node's reader is matched (volatile: earlier ones are lost)."""
        from vatex_ros.messages.idl import String

        assert wait_until(lambda: self.expression.get_matched_subscriptions(), timeout=timeout), "node not found"
        self.expression.write(String(data=text))

    def close(self) -> None:
        for reader in self._readers:
            reader.set_listener(None)

    def detections_for(self, expression: str) -> list:
        """The vision_msgs/Detection2D received for ``expression`` (one per frame where it was found)."""
        return [d for array in self.received["detections"] for d in array.detections
                if d.results[0].hypothesis.class_id == expression]


def stop_child(proc: subprocess.Popen, log: IO[str], title: str) -> None:
    """Stop a child process (SIGINT, then kill after 15 s) and print its log, which pytest shows on failure."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    log.seek(0)
    print(f"--- {title} ---\n" + log.read())


@functools.cache
def embedded_model_scene(max_steps: int = 40) -> tuple[np.ndarray, str, np.ndarray]:
    """``(rgb, expression, truth mask)`` of the first demo frame that the embedded model segments right when called
    directly (IoU > 0.5): tests of the node's tools with the real model check the tools, not the model."""
    from training.metrics import mask_iou
    from vatex_core import Predictor
    from vatex_ros.tools.demo_stream import DemoConfig, build_script

    scenes, steps = build_script(DemoConfig(frames=max_steps, frames_per_target=1, targets_per_scene=2))
    predictor = Predictor.from_pretrained()
    for step in (s for s in steps if not s.absent):
        scene_ = scenes[step.scene]
        rgb, truth = scene_.load_frames([step.frame])[0], scene_.load_mask(step.object_id, [step.frame])[0]
        if truth.sum() > 50 and mask_iou(predictor.predict(rgb, step.expression).mask, truth) > 0.5:
            return rgb, step.expression, truth
    raise AssertionError(f"the embedded model segments none of the first {max_steps} demo frames")
