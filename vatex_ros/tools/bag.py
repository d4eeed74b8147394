"""Run the node over a rosbag2 file: every frame of the image topic in, the node's outputs written back.

The frames go through the same :class:`~vatex_ros.node.core.NodeCore` (decoding, downscaling,
score smoothing, found/lost hysteresis) and :func:`~vatex_ros.node.outputs.build_outputs` as on a
live node, stepped synchronously in bag order, so every message has the contents the node would
have published; they are serialized with our DDS types, byte-identical to ROS 2 CDR. The output
bag holds every source message unchanged, plus the outputs under the node's namespace at the
source frame's bag timestamp.

Depth: when the bag has an aligned depth image topic (sensor_msgs/Image 16UC1 or 32FC1, found by the
encoding of its first message unless named) and a sensor_msgs/CameraInfo topic, they are fed to the core
with ``use_depth`` on, and the output gains ``target_point``, ``target_cloud`` and ``detections_3d``.
A colour frame waits until
a depth image stamped at or after it and a CameraInfo have been read (drivers record the three in any
order), so its depth is in the core's pairing buffer when it is processed.

Faults: a message that does not deserialize (truncated, a 4 GB sequence length) is copied unchanged but not
fed to the node; it is counted in :attr:`BagReport.bad_messages` with a warning. The output bag is written in
a temporary directory next to the target and renamed into place at the end, so a failed run leaves no
half-written bag.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.typesys.store import Typestore
from tqdm import tqdm

from vatex_ros.echo import shorten
from vatex_ros.messages import idl
from vatex_ros.node import topics
from vatex_ros.node.depth import DEPTH_ENCODINGS
from vatex_ros.node.depth_sync import stamp_seconds
from vatex_ros.messages.definitions import ros2_typestore
from vatex_ros.node.core import NodeCore, Predictor
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)

IMAGE_TYPES: dict[str, type] = {  # ROS type of an image topic -> our message class
    "sensor_msgs/msg/Image": idl.Image,
    "sensor_msgs/msg/CompressedImage": idl.CompressedImage,
}
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
# rosbag2 metadata version written: 9 stores offered_qos_profiles as a YAML list, which Humble's rosbag2
# cannot parse; 8 keeps it a string, readable from Humble on.
METADATA_VERSION = 8


@dataclass(frozen=True)
class BagJob:
    """One bag to process."""

    source: Path  # rosbag2 directory, or a single .db3 / .mcap file
    target: Path  # output bag directory (must not exist)
    expression: str  # the referring expression, in force for the whole bag
    image_topic: str | None = None  # None: the bag's only colour Image/CompressedImage topic
    depth_topic: str | None = None  # None: the bag's only 16UC1/32FC1 Image topic, if any
    camera_info_topic: str | None = None  # None: the bag's only CameraInfo topic, if any
    namespace: str = topics.DEFAULT_NAMESPACE  # output topics go under it, as the node's
    storage: str | None = None  # "sqlite3" or "mcap"; None: as the source


@dataclass
class BagReport:
    """What a run did."""

    image_topic: str = ""
    depth_topic: str | None = None  # None: no 3D (no depth or no CameraInfo topic)
    camera_info_topic: str | None = None
    frames: int = 0  # image messages read
    results: int = 0  # frames the node answered (the others were skipped with a warning)
    found: int = 0  # answered frames with the target found
    located: int = 0  # found frames with a 3D result
    written: dict[str, int] = field(default_factory=dict)  # output topic -> messages
    bad_messages: int = 0  # input messages (image, depth, CameraInfo) that did not deserialize: copied, not used


def process_bag(job: BagJob, predictor: Predictor, params: NodeParams) -> BagReport:
    """Segment ``job.expression`` in every frame of the image topic and write the output bag.

    Args:
        job: source, target and what to run.
        predictor: ``vatex_core.Predictor`` (or anything with ``stream(expression).step(rgb)``).
        params: node parameters; the frame-age check is turned off (bag stamps are in the past).

    Raises:
        ValueError: no or several image (or depth, CameraInfo) topics and none named, or a named one is not
            of the right type; a named depth topic without a CameraInfo topic.
        FileNotFoundError: the source does not exist.
    """
    if job.target.exists():
        raise ValueError(f"{job.target} exists already; the output bag must be a new directory")
    staging = Path(tempfile.mkdtemp(prefix=f".{job.target.name}.", dir=job.target.parent))
    try:
        try:
            report = _process(job, predictor, params, staging / job.target.name)
        except ReaderError as err:  # rosbags' own message names no file ("File end magic is invalid.")
            raise ReaderError(f"{_bag_files(job.source)}: cannot read the bag: {err}") from None
        os.rename(staging / job.target.name, job.target)  # same filesystem: the whole bag appears at once
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _bag_files(source: Path) -> str:
    """The bag's storage files (``.mcap``/``.db3``, named in an error), or the bag itself if it has none."""
    files = sorted(str(path) for pattern in ("*.mcap", "*.db3") for path in Path(source).glob(pattern))
    return ", ".join(files) if files else str(source)


def _process(job: BagJob, predictor: Predictor, params: NodeParams, target: Path) -> BagReport:
    """:func:`process_bag`, writing the output bag at ``target``."""
    typestore = ros2_typestore()
    report = BagReport()
    with Reader(job.source) as reader:
        depth_topics = _depth_topics(reader)
        image_connections = _image_connections(reader.connections, job.image_topic, depth_topics)
        report.image_topic = image_connections[0].topic
        report.depth_topic, report.camera_info_topic = _depth_inputs(reader.connections, job, depth_topics)
        use_depth = report.depth_topic is not None
        core = NodeCore(predictor, params.replace(max_frame_age=0.0, use_depth=use_depth),
                        on_result=lambda result: None)
        if not core.set_expression(job.expression):
            raise ValueError(f"unusable expression {job.expression!r}")
        ids = {kind: {conn.id for conn in reader.connections if conn.topic == topic}
               for kind, topic in (("depth", report.depth_topic), ("camera_info", report.camera_info_topic))}
        image_ids = {conn.id for conn in image_connections}
        writer = Writer(target, version=METADATA_VERSION, storage_plugin=_storage(job))
        with writer:
            copies = {conn.id: _copy_connection(writer, conn, typestore) for conn in reader.connections}
            outputs: dict[str, Connection] = {}

            def process(timestamp: int, frame) -> None:
                core.submit_frame(frame)
                result = core.step()  # synchronous: the core's worker thread is not started
                if result is None:
                    return
                report.results += 1
                report.found += result.found
                report.located += result.target_3d is not None
                built = build_outputs(result, with_overlay=params.publish_overlay)
                for name, msg in built.by_topic().items():
                    topic = topics.resolve(name, job.namespace)
                    if topic not in outputs:
                        outputs[topic] = writer.add_connection(topic, idl.ros_type_name(msg.__idl_typename__),
                                                               typestore=typestore)
                    writer.write(outputs[topic], timestamp, msg.serialize())
                    report.written[topic] = report.written.get(topic, 0) + 1

            def decode(cls: type, conn: Connection, raw: bytes) -> Any:
                """The message, or None (counted, warned) if it does not deserialize."""
                try:
                    return cls.deserialize(raw)
                except Exception as err:  # noqa: BLE001 - a CDR decoder raises struct.error, ValueError, ...
                    report.bad_messages += 1
                    core.diagnostics.warn("bag_bad_message", f"skipped an undecodable {conn.msgtype} message on "
                                          f"{conn.topic} ({len(raw)} bytes): {shorten(err)}")
                    return None

            waiting: deque[tuple[int, Any]] = deque()  # (bag timestamp, frame) waiting for their depth
            depth_stamp = info_seen = None  # newest depth image's stamp (s); whether a CameraInfo was read
            for conn, timestamp, raw in tqdm(reader.messages(), total=reader.message_count, unit="msg",
                                             desc=f"{job.source.name}"):
                writer.write(copies[conn.id], timestamp, raw)
                if conn.id in ids["camera_info"]:
                    if (info := decode(idl.CameraInfo, conn, raw)) is None:
                        continue
                    core.submit_camera_info(info)
                    info_seen = True
                elif conn.id in ids["depth"]:
                    if (depth := decode(idl.Image, conn, raw)) is None:
                        continue
                    core.submit_depth(depth)
                    depth_stamp = stamp_seconds(depth.header)
                if conn.id in ids["camera_info"] or conn.id in ids["depth"]:
                    while (waiting and info_seen and depth_stamp is not None
                           and stamp_seconds(waiting[0][1].header) <= depth_stamp):
                        process(*waiting.popleft())
                elif conn.id in image_ids:
                    report.frames += 1
                    if (frame := decode(IMAGE_TYPES[conn.msgtype], conn, raw)) is None:
                        continue
                    waiting.append((timestamp, frame))
                    if not use_depth or len(waiting) > params.depth_queue_size:  # no depth to wait for
                        process(*waiting.popleft())
            while waiting:  # frames after the last depth image
                process(*waiting.popleft())
    skipped = report.frames - report.results
    if skipped:
        logger.warning("%d of %d frames were skipped; diagnostics: %s", skipped, report.frames,
                       core.diagnostics.counts())
    return report


def _depth_topics(reader: Reader) -> set[str]:
    """The sensor_msgs/Image topics whose first decodable message has a depth encoding (16UC1, 32FC1)."""
    found = set()
    for topic in sorted({conn.topic for conn in reader.connections if conn.msgtype == "sensor_msgs/msg/Image"}):
        connections = [conn for conn in reader.connections
                       if conn.topic == topic and conn.msgtype == "sensor_msgs/msg/Image"]
        for _, _, raw in reader.messages(connections=connections):
            try:
                encoding = idl.Image.deserialize(raw).encoding
            except Exception:  # noqa: BLE001 - undecodable: look at the next one (counted when processed)
                continue
            if encoding in DEPTH_ENCODINGS:
                found.add(topic)
            break
    return found


def _depth_inputs(connections: Iterable[Connection], job: BagJob,
                  depth_topics: set[str]) -> tuple[str | None, str | None]:
    """(depth topic, CameraInfo topic), or (None, None) when the bag has no usable depth."""
    connections = list(connections)
    infos = sorted({conn.topic for conn in connections if conn.msgtype == CAMERA_INFO_TYPE})
    if job.depth_topic is not None:
        if job.depth_topic not in {conn.topic for conn in connections if conn.msgtype == "sensor_msgs/msg/Image"}:
            raise ValueError(f"{job.depth_topic!r} is not a sensor_msgs/Image topic of the bag")
        depth = job.depth_topic
    elif len(depth_topics) > 1:
        raise ValueError(f"the bag has {len(depth_topics)} depth image topics {sorted(depth_topics)}; "
                         "pick one with --depth-topic")
    else:
        depth = next(iter(depth_topics), None)
    if job.camera_info_topic is not None:
        if job.camera_info_topic not in infos:
            raise ValueError(f"{job.camera_info_topic!r} is not a sensor_msgs/CameraInfo topic of the bag; "
                             f"CameraInfo topics: {infos}")
        info = job.camera_info_topic
    elif len(infos) == 1:
        info = infos[0]
    elif infos and depth is not None:
        raise ValueError(f"the bag has {len(infos)} CameraInfo topics {infos}; pick the depth image's with "
                         "--camera-info-topic")
    else:
        info = None
    if depth is None or info is None:
        if job.depth_topic is not None:
            raise ValueError(f"depth topic {depth!r} needs a sensor_msgs/CameraInfo topic; the bag has none")
        if depth is not None:
            logger.warning("depth topic %s found but no CameraInfo topic: no 3D outputs", depth)
        return None, None
    return depth, info


def _image_connections(connections: Iterable[Connection], topic: str | None,
                       depth_topics: set[str]) -> list[Connection]:
    """The connections of the image topic: the named one, or the only colour Image/CompressedImage topic."""
    images = [conn for conn in connections if conn.msgtype in IMAGE_TYPES]
    names = sorted({conn.topic for conn in images} - (depth_topics if topic is None else set()))
    if topic is None:
        if len(names) != 1:
            raise ValueError(f"the bag has {len(names)} image topics {names}; pick one with --image-topic")
        topic = names[0]
    chosen = [conn for conn in images if conn.topic == topic]
    if not chosen:
        raise ValueError(f"{topic!r} is not a sensor_msgs/Image or CompressedImage topic of the bag; "
                         f"image topics: {names}")
    return chosen


def _copy_connection(writer: Writer, conn: Connection, typestore: Typestore) -> Connection:
    """The output bag's twin of a source connection (definition from the source, else from the typestore)."""
    for existing in writer.connections:  # a bag may repeat a topic/type on several connections
        if (existing.topic, existing.msgtype, existing.ext) == (conn.topic, conn.msgtype, conn.ext):
            return existing
    return writer.add_connection(conn.topic, conn.msgtype, typestore=typestore, msgdef=conn.msgdef.data or None,
                                 rihs01=conn.digest or None, serialization_format=conn.ext.serialization_format,
                                 offered_qos_profiles=conn.ext.offered_qos_profiles)


def _storage(job: BagJob) -> StoragePlugin:
    """The output storage: as asked, else that of the source (a .mcap file or a directory of them: MCAP)."""
    name = job.storage or ("mcap" if job.source.suffix == ".mcap" or any(job.source.glob("*.mcap")) else "sqlite3")
    return {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[name]
