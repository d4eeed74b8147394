"""Run the node over a rosbag2 file: every frame of the image topic in, the node's outputs written back.

The frames go through the same :class:`~vatex_ros.node_core.NodeCore` (decoding, downscaling,
score smoothing, found/lost hysteresis) and :func:`~vatex_ros.outputs.build_outputs` as on a
live node, stepped synchronously in bag order, so every message has the contents the node would
have published; they are serialized with our DDS types, byte-identical to ROS 2 CDR. The output
bag holds every source message unchanged, plus the outputs under the node's namespace at the
source frame's bag timestamp.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys.store import Typestore
from tqdm import tqdm

from vatex_ros import messages, topics
from vatex_ros.msg_definitions import ros2_typestore
from vatex_ros.node_core import NodeCore, Predictor
from vatex_ros.outputs import build_outputs
from vatex_ros.params import NodeParams

logger = logging.getLogger(__name__)

IMAGE_TYPES: dict[str, type] = {  # ROS type of an image topic -> our message class
    "sensor_msgs/msg/Image": messages.Image,
    "sensor_msgs/msg/CompressedImage": messages.CompressedImage,
}


@dataclass(frozen=True)
class BagJob:
    """One bag to process."""

    source: Path  # rosbag2 directory, or a single .db3 / .mcap file
    target: Path  # output bag directory (must not exist)
    expression: str  # the referring expression, in force for the whole bag
    image_topic: str | None = None  # None: the bag's only Image/CompressedImage topic
    namespace: str = topics.DEFAULT_NAMESPACE  # output topics go under it, as the node's
    storage: str | None = None  # "sqlite3" or "mcap"; None: as the source


@dataclass
class BagReport:
    """What a run did."""

    image_topic: str = ""
    frames: int = 0  # image messages read
    results: int = 0  # frames the node answered (the others were skipped with a warning)
    found: int = 0  # answered frames with the target found
    written: dict[str, int] = field(default_factory=dict)  # output topic -> messages


def process_bag(job: BagJob, predictor: Predictor, params: NodeParams) -> BagReport:
    """Segment ``job.expression`` in every frame of the image topic and write the output bag.

    Args:
        job: source, target and what to run.
        predictor: ``vatex_core.Predictor`` (or anything with ``stream(expression).step(rgb)``).
        params: node parameters; the frame-age check is turned off (bag stamps are in the past).

    Raises:
        ValueError: no or several image topics and none named, or the named one is not an image topic.
        FileNotFoundError: the source does not exist.
    """
    typestore = ros2_typestore()
    report = BagReport()
    core = NodeCore(predictor, params.replace(max_frame_age=0.0), on_result=lambda result: None)
    if not core.set_expression(job.expression):
        raise ValueError(f"unusable expression {job.expression!r}")
    with Reader(job.source) as reader:
        image_connections = _image_connections(reader.connections, job.image_topic)
        report.image_topic = image_connections[0].topic
        image_ids = {conn.id for conn in image_connections}
        writer = Writer(job.target, version=Writer.VERSION_LATEST, storage_plugin=_storage(job))
        with writer:
            copies = {conn.id: _copy_connection(writer, conn, typestore) for conn in reader.connections}
            outputs: dict[str, Connection] = {}
            for conn, timestamp, raw in tqdm(reader.messages(), total=reader.message_count, unit="msg",
                                             desc=f"{job.source.name}"):
                writer.write(copies[conn.id], timestamp, raw)
                if conn.id not in image_ids:
                    continue
                report.frames += 1
                core.submit_frame(IMAGE_TYPES[conn.msgtype].deserialize(raw))
                result = core.step()  # synchronous: the core's worker thread is not started
                if result is None:
                    continue
                report.results += 1
                report.found += result.found
                built = build_outputs(result, with_overlay=params.publish_overlay)
                for name, msg in built.by_topic().items():
                    topic = topics.resolve(name, job.namespace)
                    if topic not in outputs:
                        outputs[topic] = writer.add_connection(topic, messages.ros_type_name(msg.__idl_typename__),
                                                               typestore=typestore)
                    writer.write(outputs[topic], timestamp, msg.serialize())
                    report.written[topic] = report.written.get(topic, 0) + 1
    skipped = report.frames - report.results
    if skipped:
        logger.warning("%d of %d frames were skipped; diagnostics: %s", skipped, report.frames,
                       core.diagnostics.counts())
    return report


def _image_connections(connections: Iterable[Connection], topic: str | None) -> list[Connection]:
    """The connections of the image topic: the named one, or the only Image/CompressedImage topic."""
    images = [conn for conn in connections if conn.msgtype in IMAGE_TYPES]
    names = sorted({conn.topic for conn in images})
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
