"""Cyclone DDS transport of the node: ROS 2 wire format without a ROS install.

Topics are ``rt/<namespace>/<name>`` with ROS 2 type names and the QoS of
:mod:`vatex_ros.node.topics`, so real ROS 2 nodes on the same domain talk to it, on rmw_cyclonedds
and on Fast DDS (rmw_fastrtps_cpp): its participant comes from :mod:`vatex_ros.dds.participant`,
which makes Cyclone match Fast DDS endpoints by type name (see there why that is needed).
Like rmw_cyclonedds, the domain comes from ``ROS_DOMAIN_ID`` (default 0) and Cyclone honours
``CYCLONEDDS_URI``.

With the ``cameras`` parameter every camera has its own readers (``<camera>/image``, ``<camera>/depth``,
``<camera>/camera_info``) and writers (``<camera>/mask``, ...); the expression topics, ``active_expression`` and
``/diagnostics`` stay on the node's namespace. Frames are taken from an image reader (keep last 1) only when the
core is ready for one, so a frame that a
newer one replaces is never deserialized. The expression is read by two readers, volatile and transient
local, because DDS matches a transient-local reader only with transient-local writers: a latched expression
publisher's last sample reaches a (re)started node, a plain one's samples arrive as before. Every
``diagnostics_period`` the core's counters, plus the readers' lost and rejected samples as Cyclone counts
them, go out as ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics``. With ``use_sim_time`` the node's
clock is ``/clock``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

from cyclonedds.core import DDSException, Listener, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic as DdsTopic
from cyclonedds.util import duration

from vatex_ros.dds.participant import create_participant
from vatex_ros.dds.socket_drops import DropWatch, largest_udp_receive_buffer
from vatex_ros.messages import idl
from vatex_ros.node import topics
from vatex_ros.node.core import FrameResult, NodeCore, Predictor
from vatex_ros.node.diagnostics import diagnostic_array
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NODE_NAME, NodeParams

logger = logging.getLogger(__name__)

_MAX_TAKE = 1000  # samples taken per listener call; a burst beyond that waits for the next call
_DROP_CHECK_PERIOD = 1.0  # seconds between two looks at the kernel's drop counts when /diagnostics is off
_SEEN_EXPRESSIONS = 64  # (writer, timestamp) of recent expression samples: one heard by both readers counts once


def _announce_receive_buffer() -> None:
    """Say at start-up how large a best-effort frame can arrive: one larger than the socket receive buffer the
    kernel granted is dropped in the kernel (counted as ``udp_datagrams_dropped``, never seen by DDS)."""
    buffer = largest_udp_receive_buffer()
    if buffer is None:
        return
    pixels = buffer // 3
    logger.info("socket receive buffer %.1f MiB: best-effort rgb8 frames above about %.1f Mpixel (e.g. %s) may be "
                "dropped by the kernel, counted as udp_datagrams_dropped; raise net.core.rmem_max for larger ones",
                buffer / 2**20, pixels / 1e6, "3840x2880" if pixels < 3840 * 2880 else "a larger one")


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
        participant: an existing participant; default: a new one on ``ROS_DOMAIN_ID`` that also matches
            Fast DDS peers (:func:`vatex_ros.dds.participant.create_participant`).
    """

    def __init__(self, predictor: Predictor, params: NodeParams, namespace: str = topics.DEFAULT_NAMESPACE,
                 remappings: dict[str, str] | None = None, participant: DomainParticipant | None = None):
        self.participant = participant or create_participant()
        self._params = params
        self._namespace, self._remappings = namespace, remappings or {}
        self._sim_time = 0.0  # /clock seconds; 0 until the first message, as rclpy's clock under sim time
        self.core = NodeCore(predictor, params, self._publish_result, self._publish_expression,
                             clock=(lambda: self._sim_time) if params.use_sim_time else time.time)
        self._seen_expressions: deque[tuple[int, int]] = deque(maxlen=_SEEN_EXPRESSIONS)
        self._seen_lock = threading.Lock()
        self._volatile: set[str] = set()  # output topics whose samples only reach readers matched at the time
        self._writers = {topic.name: self._writer(topic) for topic in (topics.ACTIVE_EXPRESSION, topics.DIAGNOSTICS)}
        outputs = [topics.MASK, topics.DETECTIONS, topics.LABELS]
        outputs += [topics.OVERLAY] if params.publish_overlay else []
        outputs += list(topics.DEPTH_OUTPUTS) if params.use_depth else []
        for camera in self.core.cameras:
            self._writers.update({topics.camera_name(t.name, camera): self._writer(t, camera) for t in outputs})
        self._image_readers: dict[str, DataReader] = {}
        self.image_topic_names: list[str] = []  # DDS names of the cameras' image topics, in camera order
        self._readers = [
            self._reader(topics.EXPRESSION, self._expression_cb),
            self._reader(replace(topics.EXPRESSION, transient_local=True, depth=1), self._expression_cb),
            self._reader(topics.EXPRESSIONS, self._expressions_cb),
            self._reader(replace(topics.EXPRESSIONS, transient_local=True, depth=1), self._expressions_cb),
        ]
        for camera in self.core.cameras:
            name = "rt" + topics.input_image_name(topics.resolve(topics.camera_name(topics.IMAGE.name, camera),
                                                                 namespace, self._remappings), params.image_format)
            reader = self._reader(topics.image_topic(params.image_format),
                                  lambda r, c=camera: self._image_cb(r, c), drain=False, dds_name=name)
            self._image_readers[camera] = reader
            self.image_topic_names.append(name)
            self._readers.append(reader)
            if params.use_depth:
                self._readers += [self._reader(topics.DEPTH, lambda r, c=camera: self._depth_cb(r, c), camera=camera),
                                  self._reader(topics.CAMERA_INFO, lambda r, c=camera: self._camera_info_cb(r, c),
                                               camera=camera)]
        self.image_topic_name = self.image_topic_names[0]  # the (first) camera's
        if params.use_sim_time:  # frame age on the simulated clock, as rclpy's node clock
            self._readers.append(self._reader(topics.CLOCK, self._clock_cb))
        self._drops = DropWatch()
        self._stop_diagnostics = threading.Event()
        self._diagnostics_thread = threading.Thread(target=self._diagnostics_loop, name="vatex-diagnostics",
                                                    daemon=True)
        self.core.start()
        self._diagnostics_thread.start()
        logger.info("DDS node up on domain %d: %s -> %s", self.participant.domain_id,
                    ", ".join(self.image_topic_names), ", ".join(self.topic_name(n) for n in self._writers))
        _announce_receive_buffer()

    def topic_name(self, name: str) -> str:
        """DDS topic name of a relative ROS topic name (``mask`` -> ``rt/vatex/mask``)."""
        return "rt" + topics.resolve(name, self._namespace, self._remappings)

    def close(self) -> None:
        """Detach the listeners, stop inference and log the diagnostic counters."""
        for reader in self._readers:
            reader.set_listener(None)  # no callbacks into objects being torn down
        self._stop_diagnostics.set()
        if self._diagnostics_thread.is_alive():
            self._diagnostics_thread.join(timeout=5)
        self.core.stop()
        logger.info("diagnostics: %s", self.counts())

    def counts(self) -> dict[str, int]:
        """The core's counters plus the samples Cyclone reports lost or rejected on the node's readers."""
        lost = rejected = 0
        for reader in self._readers:
            try:
                lost += reader.get_sample_lost_status().total_count
                rejected += reader.get_sample_rejected_status().total_count
            except DDSException:  # a reader being torn down
                continue
        return {**self.core.diagnostics.counts(), "samples_lost": lost, "samples_rejected": rejected}

    def publish_diagnostics(self, previous: dict[str, int] | None = None) -> dict[str, int]:
        """Publish the counters once on /diagnostics; returns them (the ``previous`` of the next call)."""
        counts = self.counts()
        now = self.core.now()
        sec = int(now)
        stamp = idl.Time(sec=sec, nanosec=min(int((now - sec) * 1e9), 999_999_999))
        name = topics.resolve(NODE_NAME, self._namespace)
        self._writers[topics.DIAGNOSTICS.name].write(diagnostic_array(counts, stamp, name, previous=previous))
        return counts

    def _writer(self, topic: topics.Topic, camera: str = "") -> DataWriter:
        name = topics.camera_name(topic.name, camera)
        if not topic.transient_local:
            self._volatile.add(name)
        qos = dds_qos(topic, self._params.qos_depth)
        return DataWriter(self.participant, DdsTopic(self.participant, self.topic_name(name), dds_type(topic)),
                          qos=qos)

    def _reader(self, topic: topics.Topic, callback, drain: bool = True, dds_name: str | None = None,
                camera: str = "") -> DataReader:
        qos = dds_qos(topic, self._params.qos_depth)
        name = dds_name or self.topic_name(topics.camera_name(topic.name, camera))
        dds_topic = DdsTopic(self.participant, name, dds_type(topic))
        reader = DataReader(self.participant, dds_topic, qos=qos)
        # Listener attached after construction: during it, Cyclone may call back before the Python
        # reader exists. Then drain what arrived meanwhile (a camera's next frame does that for images).
        reader.set_listener(Listener(on_data_available=callback))
        if drain:
            callback(reader)
        return reader

    def _diagnostics_loop(self) -> None:
        """Each period: look for datagrams the kernel dropped, then publish the counters (if asked to)."""
        previous = None
        while not self._stop_diagnostics.wait(self._params.diagnostics_period or _DROP_CHECK_PERIOD):
            self.check_socket_drops()
            if not self._params.diagnostics_period:
                continue
            try:
                previous = self.publish_diagnostics(previous)
            except DDSException as err:  # a writer being torn down; the next period tries again
                logger.debug("diagnostics not published: %s", err)

    def check_socket_drops(self) -> int:
        """Count (and warn about) the UDP datagrams the kernel dropped since the last check: input lost before
        DDS saw it, which Cyclone's lost-sample status does not show (:mod:`vatex_ros.dds.socket_drops`)."""
        dropped = self._drops.new_drops()
        if dropped:
            buffer = largest_udp_receive_buffer()
            size = f"{buffer / 2**20:.1f} MiB" if buffer else "its size unknown"
            self.core.diagnostics.warn(
                "udp_datagrams_dropped", f"the kernel dropped {dropped} UDP datagrams on the node's full socket "
                f"receive buffer ({size}): best-effort frames larger than the buffer, or bursts, are lost before "
                "DDS sees them (raise net.core.rmem_max; README, Large frames over DDS)", n=dropped)
        return dropped

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

    def _image_cb(self, reader: DataReader, camera: str) -> None:
        if reader is not None:  # deserialized only if the core gets to it
            self.core.submit_frame_source(lambda: self._newest_frame(camera), camera)

    def _newest_frame(self, camera: str) -> Any:
        """The newest frame in ``camera``'s image reader (keep last 1), deserialized now; None if there is none.

        One take only: at a high rate a newer frame arrives while this one deserializes, and taking until the
        reader is empty would deserialize frame after frame without ever processing one.
        """
        try:
            taken = self._image_readers[camera].take(N=1)
        except Exception as err:  # noqa: BLE001 - cyclonedds raises whatever its decoder raised
            self.core.diagnostics.warn("image_undecodable", f"dropped an undecodable image sample: {err!r}")
            return None
        valid = [s for s in taken if s.sample_info.valid_data]
        return valid[-1] if valid else None

    def _expression_cb(self, reader: DataReader) -> None:
        for sample in self._unseen_expressions(reader):
            self.core.set_expression(sample.data)

    def _expressions_cb(self, reader: DataReader) -> None:
        for sample in self._unseen_expressions(reader):
            self.core.set_expressions(sample.data)

    def _unseen_expressions(self, reader: DataReader) -> list:
        """The reader's new samples, less those its volatile/transient-local twin reader already delivered."""
        unseen = []
        for sample in self._take(reader, "expression"):
            key = (sample.sample_info.publication_handle, sample.sample_info.source_timestamp)
            with self._seen_lock:
                if key in self._seen_expressions:  # a transient-local writer's sample reaches both readers
                    continue
                self._seen_expressions.append(key)
            unseen.append(sample)
        return unseen

    def _clock_cb(self, reader: DataReader) -> None:
        samples = self._take(reader, "clock")
        if samples:
            clock = samples[-1].clock
            self._sim_time = clock.sec + clock.nanosec * 1e-9

    def _depth_cb(self, reader: DataReader, camera: str) -> None:
        for sample in self._take(reader, "depth"):
            self.core.submit_depth(sample, camera)

    def _camera_info_cb(self, reader: DataReader, camera: str) -> None:
        for sample in self._take(reader, "camera_info"):
            self.core.submit_camera_info(sample, camera)

    def _publish_result(self, result: FrameResult) -> None:
        # A volatile sample written with no matched reader reaches nobody: neither serialize nor send it, and
        # draw the overlay and the label image (a full-size image each) only for a matched subscriber.
        writers = {topic.name: self._writers[name] for topic in topics.CAMERA_OUTPUTS
                   if (name := topics.camera_name(topic.name, result.camera)) in self._writers}
        unread = {name for name, writer in writers.items()
                  if writer.get_publication_matched_status().current_count == 0}
        overlay = topics.OVERLAY.name in writers and topics.OVERLAY.name not in unread
        outputs = build_outputs(result, with_overlay=overlay, with_labels=topics.LABELS.name not in unread)
        for name, msg in outputs.by_topic().items():
            if name not in unread:
                writers[name].write(msg)

    def _publish_expression(self, expression: str) -> None:
        self._writers[topics.ACTIVE_EXPRESSION.name].write(idl.String(data=expression))
