"""ROS 2 messages as Cyclone DDS types, byte-compatible with rmw_cyclonedds.

Each class is an XCDR1 ``@final`` struct whose DDS type name follows ROS 2's IDL mapping
(``pkg::msg::dds_::Type_``) and whose fields match the ROS 2 ``.msg`` definition field by
field, in order. ``uint8[]`` payloads may be set as ``bytes``; received ones are lists of int
(cyclonedds' codec), which :mod:`vatex_ros.image_conversion` accepts as well.

Field lists are checked against the ``.msg`` text (ours in ``msg/``, vision_msgs in
:mod:`vatex_ros.msg_definitions`) and against rosbags' CDR implementation in tests/ros.
"""

from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.annotations import final
from cyclonedds.idl.types import array, float64, int32, sequence, uint8, uint32


def ros_type_name(dds_type_name: str) -> str:
    """Map a DDS type name to the ROS 2 one: ``std_msgs::msg::dds_::String_`` -> ``std_msgs/msg/String``."""
    package, _, _, name = dds_type_name.split("::")
    return f"{package}/msg/{name.rstrip('_')}"


# --- builtin_interfaces -------------------------------------------------------------------


@final
@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


# --- std_msgs -----------------------------------------------------------------------------


@final
@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@final
@dataclass
class String(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str = ""


# --- sensor_msgs --------------------------------------------------------------------------


@final
@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0  # bytes per row, padding included
    data: sequence[uint8] = b""


@final
@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header = field(default_factory=Header)
    format: str = ""  # "jpeg", "png" or image_transport's "rgb8; jpeg compressed bgr8"
    data: sequence[uint8] = b""


# --- geometry_msgs ------------------------------------------------------------------------


@final
@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@final
@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0
    w: float64 = 1.0  # ROS 2 default: identity rotation


@final
@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@final
@dataclass
class PoseWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    pose: Pose = field(default_factory=Pose)
    covariance: array[float64, 36] = field(default_factory=lambda: [0.0] * 36)  # row-major 6x6


# --- vision_msgs (ROS 2, 4.x) -------------------------------------------------------------


@final
@dataclass
class Point2D(IdlStruct, typename="vision_msgs::msg::dds_::Point2D_"):
    x: float64 = 0.0
    y: float64 = 0.0


@final
@dataclass
class Pose2D(IdlStruct, typename="vision_msgs::msg::dds_::Pose2D_"):
    position: Point2D = field(default_factory=Point2D)
    theta: float64 = 0.0


@final
@dataclass
class BoundingBox2D(IdlStruct, typename="vision_msgs::msg::dds_::BoundingBox2D_"):
    center: Pose2D = field(default_factory=Pose2D)  # pixels
    size_x: float64 = 0.0
    size_y: float64 = 0.0


@final
@dataclass
class ObjectHypothesis(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesis_"):
    class_id: str = ""
    score: float64 = 0.0


@final
@dataclass
class ObjectHypothesisWithPose(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesisWithPose_"):
    hypothesis: ObjectHypothesis = field(default_factory=ObjectHypothesis)
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)


@final
@dataclass
class Detection2D(IdlStruct, typename="vision_msgs::msg::dds_::Detection2D_"):
    header: Header = field(default_factory=Header)
    results: sequence[ObjectHypothesisWithPose] = field(default_factory=list)
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    id: str = ""


@final
@dataclass
class Detection2DArray(IdlStruct, typename="vision_msgs::msg::dds_::Detection2DArray_"):
    header: Header = field(default_factory=Header)
    detections: sequence[Detection2D] = field(default_factory=list)


# --- vatex_ros (msg/VatexTarget.msg) ------------------------------------------------------


@final
@dataclass
class VatexTarget(IdlStruct, typename="vatex_ros::msg::dds_::VatexTarget_"):
    header: Header = field(default_factory=Header)
    expression: str = ""
    found: bool = False
    score: float64 = 0.0
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    centroid: Point2D = field(default_factory=Point2D)
    area: uint32 = 0
    latency: float64 = 0.0


# Every message type, for registries and tests.
ALL_TYPES: tuple[type[IdlStruct], ...] = (
    Time, Header, String, Image, CompressedImage, Point, Quaternion, Pose, PoseWithCovariance,
    Point2D, Pose2D, BoundingBox2D, ObjectHypothesis, ObjectHypothesisWithPose, Detection2D,
    Detection2DArray, VatexTarget,
)
