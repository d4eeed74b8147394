"""Cyclone DDS transport of the node: ROS 2 wire format without a ROS install.

Topics are ``rt/<namespace>/<name>`` with ROS 2 type names and the QoS of
:mod:`vatex_ros.node.topics`, so real ROS 2 nodes (rmw_cyclonedds) on the same domain talk to it.
Like rmw_cyclonedds, the domain comes from ``ROS_DOMAIN_ID`` (default 0) and Cyclone honours
``CYCLONEDDS_URI``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cyclonedds.core import Listener, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic as DdsTopic
from cyclonedds.util import duration

from vatex_ros.messages import idl
from vatex_ros.node import topics
from vatex_ros.node.core import FrameResult, NodeCore, Predictor
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)

_MAX_TAKE = 1000  # samples taken per listener call; a burst beyond that waits for the next call


def domain_id_from_env() -> int:
    """``ROS_DOMAIN_ID`` as rmw_cyclonedds reads it (default 0)."""
    value = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) > 232:
        raise ValueError(f"ROS_DOMAIN_ID must be an integer in [0, 232], got {value!r}")
    return int(value)


def dds_qos(topic: topics.Topic, default_depth: int) -> Qos:
    """Cyclone QoS of a topic; XCDR1 data representation as ROS 2 uses."""
    reliability = Policy.Reliability.Reliable(duration(seconds=1)) if topic.reliable else Policy.Reliability.BestEffort
    durability = Policy.Durability.TransientLocal if topic.transient_local else Policy.Durability.Volatile
    return Qos(reliability, durability, Policy.History.KeepLast(topic.depth or default_depth),
               Policy.DataRepresentation(use_cdrv0_representation=True))


def dds_type(topic: topics.Topic) -> type:
    """Our message class for a topic's ROS type (``sensor_msgs/msg/Image`` -> idl.Image)."""
    return getattr(idl, topic.ros_type.rsplit("/", 1)[1])


class DdsNode:
    """The node core wired to DDS readers and writers.

    Args:
        predictor: ``vatex_core.Predictor`` (or anything with the same ``stream`` API).
        params: node parameters (``image_format`` picks Image or CompressedImage input).
        namespace: namespace of relative topic names.
        remappings: relative name -> new name, e.g. ``{"image": "/camera/image_raw"}``.
        participant: an existing participant; default: a new one on ``ROS_DOMAIN_ID``.
    """

    def __init__(self, predictor: Predictor, params: NodeParams, namespace: str = topics.DEFAULT_NAMESPACE,
                 remappings: dict[str, str] | None = None, participant: DomainParticipant | None = None):
        self.participant = participant or DomainParticipant(domain_id_from_env())
        self._params = params
        self._namespace, self._remappings = namespace, remappings or {}
        self.core = NodeCore(predictor, params, self._publish_result, self._publish_expression)
        self._volatile: set[str] = set()  # output topics whose samples only reach readers matched at the time
        self._writers = {topic.name: self._writer(topic) for topic in (
            topics.MASK, topics.DETECTIONS, topics.TARGET, topics.ACTIVE_EXPRESSION)}
        if params.publish_overlay:
            self._writers[topics.OVERLAY.name] = self._writer(topics.OVERLAY)
        if params.use_depth:
            self._writers.update({t.name: self._writer(t) for t in (topics.TARGET_POINT, topics.TARGET_CLOUD)})
        self._readers = [
            self._reader(topics.image_topic(params.image_format), self._image_cb),
            self._reader(topics.EXPRESSION, self._expression_cb),
        ]
        if params.use_depth:
            self._readers += [self._reader(topics.DEPTH, self._depth_cb),
                              self._reader(topics.CAMERA_INFO, self._camera_info_cb)]
        self.core.start()
        logger.info("DDS node up on domain %d: %s -> %s", self.participant.domain_id,
                    self.topic_name(topics.IMAGE.name), ", ".join(self.topic_name(n) for n in self._writers))

    def topic_name(self, name: str) -> str:
        """DDS topic name of a relative ROS topic name (``mask`` -> ``rt/vatex/mask``)."""
        return "rt" + topics.resolve(name, self._namespace, self._remappings)

    def close(self) -> None:
        """Detach the listeners, stop inference and log the diagnostic counters."""
        for reader in self._readers:
            reader.set_listener(None)  # no callbacks into objects being torn down
        self.core.stop()
        logger.info("diagnostics: %s", self.core.diagnostics.counts())

    def _writer(self, topic: topics.Topic) -> DataWriter:
        if not topic.transient_local:
            self._volatile.add(topic.name)
        qos = dds_qos(topic, self._params.qos_depth)
        return DataWriter(self.participant, DdsTopic(self.participant, self.topic_name(topic.name), dds_type(topic)),
                          qos=qos)

    def _reader(self, topic: topics.Topic, callback) -> DataReader:
        qos = dds_qos(topic, self._params.qos_depth)
        dds_topic = DdsTopic(self.participant, self.topic_name(topic.name), dds_type(topic))
        reader = DataReader(self.participant, dds_topic, qos=qos)
        # Listener attached after construction: during it, Cyclone may call back before the Python
        # reader exists. Then drain what arrived meanwhile.
        reader.set_listener(Listener(on_data_available=callback))
        callback(reader)
        return reader

    def _take(self, reader: DataReader, kind: str) -> list[Any]:
        """Take valid samples one by one, so one undecodable sample (e.g. non-UTF-8) loses only itself."""
        samples: list[Any] = []
        if reader is None:  # Cyclone calls back with no Python reader while entities are torn down
            return samples
        for _ in range(_MAX_TAKE):
            try:
                taken = reader.take(N=1)
            except Exception as err:  # noqa: BLE001 - cyclonedds raises whatever its decoder raised
                self.core.diagnostics.warn(f"{kind}_undecodable", f"dropped an undecodable {kind} sample: {err!r}")
                continue
            if not taken:
                break
            samples.extend(s for s in taken if s.sample_info.valid_data)
        return samples

    def _image_cb(self, reader: DataReader) -> None:
        frames = self._take(reader, "image")
        if frames:
            self.core.submit_frame(frames[-1])  # newest wins
            for _ in frames[:-1]:
                self.core.diagnostics.count("frames_replaced")

    def _expression_cb(self, reader: DataReader) -> None:
        for sample in self._take(reader, "expression"):
            self.core.set_expression(sample.data)

    def _depth_cb(self, reader: DataReader) -> None:
        for sample in self._take(reader, "depth"):
            self.core.submit_depth(sample)

    def _camera_info_cb(self, reader: DataReader) -> None:
        for sample in self._take(reader, "camera_info"):
            self.core.submit_camera_info(sample)

    def _publish_result(self, result: FrameResult) -> None:
        # A volatile sample written with no matched reader reaches nobody: neither serialize nor send it, and
        # draw the overlay (milliseconds per frame) only for a matched subscriber.
        unread = {name for name, writer in self._writers.items()
                  if name in self._volatile and writer.get_publication_matched_status().current_count == 0}
        outputs = build_outputs(result, with_overlay=topics.OVERLAY.name in self._writers
                                and topics.OVERLAY.name not in unread)
        for name, msg in outputs.by_topic().items():
            if name not in unread:
                self._writers[name].write(msg)

    def _publish_expression(self, expression: str) -> None:
        self._writers[topics.ACTIVE_EXPRESSION.name].write(idl.String(data=expression))
