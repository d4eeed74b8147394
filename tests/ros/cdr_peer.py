"""A plain-IdlStruct DDS peer (cyclonedds' generic codec only) for the codec tests: it echoes what it receives.

Run as ``python cdr_peer.py SECONDS``: the message types are written here from the ROS 2 definitions, with no
hook from :mod:`vatex_ros.messages.cdr`. Every Image, CompressedImage and PointCloud2 taken from
``rt/cdr_test/fast_<kind>`` is written back on ``rt/cdr_test/plain_<kind>`` with ``|plain`` added to its
frame_id, re-encoded by the generic codec. Exits after SECONDS or after ``STOP_AFTER`` echoes.
"""

import os
import sys
import time
from dataclasses import dataclass, field

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.annotations import final
from cyclonedds.idl.types import int32, sequence, uint8, uint32
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

STOP_AFTER = 30


@final
@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@final
@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@final
@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0
    data: sequence[uint8] = b""


@final
@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header = field(default_factory=Header)
    format: str = ""
    data: sequence[uint8] = b""


@final
@dataclass
class PointField(IdlStruct, typename="sensor_msgs::msg::dds_::PointField_"):
    name: str = ""
    offset: uint32 = 0
    datatype: uint8 = 0
    count: uint32 = 0


@final
@dataclass
class PointCloud2(IdlStruct, typename="sensor_msgs::msg::dds_::PointCloud2_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    fields: sequence[PointField] = field(default_factory=list)
    is_bigendian: bool = False
    point_step: uint32 = 0
    row_step: uint32 = 0
    data: sequence[uint8] = b""
    is_dense: bool = False


TYPES = {"image": Image, "compressed": CompressedImage, "cloud": PointCloud2}
QOS = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(10),
          Policy.DataRepresentation(use_cdrv0_representation=True))


def main(seconds: float) -> None:
    participant = DomainParticipant(int(os.environ["ROS_DOMAIN_ID"]))  # the test's private domain
    pairs = [(DataReader(participant, Topic(participant, f"rt/cdr_test/fast_{kind}", cls), qos=QOS),
              DataWriter(participant, Topic(participant, f"rt/cdr_test/plain_{kind}", cls), qos=QOS))
             for kind, cls in TYPES.items()]
    echoed, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline and echoed < STOP_AFTER:
        for reader, writer in pairs:
            for sample in reader.take(10):
                sample.header.frame_id += "|plain"
                writer.write(sample)
                echoed += 1
        time.sleep(0.01)
    time.sleep(1.0)  # let the last reliable echoes reach the other side


if __name__ == "__main__":
    main(float(sys.argv[1]))
