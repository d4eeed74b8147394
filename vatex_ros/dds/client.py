"""The other side of a VATEX node on DDS: publish frames and expressions, collect what the node sends.

Used by `vatex demo` (camera and recorder processes) and `vatex bench`. Topic names, types and
QoS come from :mod:`vatex_ros.node.topics` and :mod:`vatex_ros.dds.transport`, as the node's do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cyclonedds.core import Listener
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic as DdsTopic

from vatex_ros.node import topics
from vatex_ros.dds.participant import create_participant
from vatex_ros.dds.transport import dds_qos, dds_type
from vatex_ros.messages.idl import CameraInfo, Image, String

OUTPUTS: tuple[topics.Topic, ...] = (topics.MASK, topics.DETECTIONS, topics.OVERLAY, topics.ACTIVE_EXPRESSION,
                                     topics.TARGET_POINT)
_CLIENT_DEPTH = 100  # history of the reliable outputs on our side: a slow reader loses nothing


@dataclass(frozen=True)
class Received:
    """One sample of a node output and when it arrived here (``time.time()``, the stamps' time base)."""

    msg: Any
    wall_time: float


def stamp_key(header: Any) -> tuple[int, int]:
    """(sec, nanosec) of a header: identifies a frame and the outputs that carry its header."""
    return int(header.stamp.sec), int(header.stamp.nanosec)


class NodeClient:
    """Writers of ``image``/``expression``/``depth``/``camera_info`` and readers of the node's outputs, under
    ``namespace``.

    Args:
        participant: default: a new one on ``ROS_DOMAIN_ID`` (that also matches Fast DDS peers).
        namespace: the node's namespace.
        outputs: output topics to subscribe to (default: all).
        camera: with the node's ``cameras`` parameter, the camera this client is: its image, depth and
            camera_info are written and its outputs read under ``<camera>/`` (``received`` keeps the plain names).
    """

    def __init__(self, participant: DomainParticipant | None = None, namespace: str = topics.DEFAULT_NAMESPACE,
                 outputs: Sequence[topics.Topic] = OUTPUTS, camera: str = ""):
        self.participant = participant or create_participant()
        self._namespace = namespace
        self._camera = camera
        self._changed = threading.Condition()
        self.received: dict[str, list[Received]] = {topic.name: [] for topic in outputs}
        self._readers = [self._reader(topic) for topic in outputs]
        self._image = self._writer(topics.IMAGE)
        self._expression = self._writer(topics.EXPRESSION)
        self._depth = self._writer(topics.DEPTH)
        self._camera_info = self._writer(topics.CAMERA_INFO)

    def wait_for_node(self, timeout: float) -> bool:
        """Wait until the node's image and expression readers match ours (the node is up)."""
        return self.wait(lambda: bool(self._image.get_matched_subscriptions()
                                      and self._expression.get_matched_subscriptions()), timeout)

    def publish_image(self, msg: Image) -> None:
        """Publish a frame (best effort: it may be dropped, as a camera's)."""
        self._image.write(msg)

    def publish_depth(self, depth: Image, camera_info: CameraInfo) -> None:
        """Publish a depth image aligned to the frames and its CameraInfo (best effort, as a camera's)."""
        self._depth.write(depth)
        self._camera_info.write(camera_info)

    def say(self, expression: str) -> None:
        """Publish an expression (reliable; lost if no node is matched yet, see ``wait_for_node``)."""
        self._expression.write(String(data=expression))

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (re-checked on every received sample) or ``timeout`` s pass."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))  # also polls: matching raises no sample event
        return True

    def active_expression(self) -> str | None:
        """The last expression the node reported in force, if any."""
        samples = self.received.get(topics.ACTIVE_EXPRESSION.name)
        return samples[-1].msg.data if samples else None

    def close(self) -> None:
        """Detach the listeners (no callbacks into a closed client)."""
        for reader in self._readers:
            reader.set_listener(None)

    def _topic_name(self, topic: topics.Topic) -> str:
        per_camera = topic in topics.CAMERA_INPUTS or topic in topics.CAMERA_OUTPUTS
        return "rt" + topics.resolve(topics.camera_name(topic.name, self._camera) if per_camera else topic.name,
                                     self._namespace)

    def _writer(self, topic: topics.Topic) -> DataWriter:
        dds_topic = DdsTopic(self.participant, self._topic_name(topic), dds_type(topic))
        return DataWriter(self.participant, dds_topic, qos=dds_qos(topic, _CLIENT_DEPTH))

    def _reader(self, topic: topics.Topic) -> DataReader:
        dds_topic = DdsTopic(self.participant, self._topic_name(topic), dds_type(topic))
        reader = DataReader(self.participant, dds_topic, qos=dds_qos(topic, _CLIENT_DEPTH))
        sink = self.received[topic.name]

        def on_data(reader_: DataReader | None) -> None:
            if reader_ is None:  # Cyclone calls back without a reader while tearing down
                return
            samples = [s for s in reader_.take(_CLIENT_DEPTH) if s.sample_info.valid_data]
            now = time.time()
            with self._changed:
                sink.extend(Received(sample, now) for sample in samples)
                self._changed.notify_all()

        reader.set_listener(Listener(on_data_available=on_data))
        on_data(reader)  # what arrived before the listener was attached
        return reader
