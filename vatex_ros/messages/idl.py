"""ROS 2 messages as Cyclone DDS types, byte-compatible with rmw_cyclonedds.

Each class is an XCDR1 ``@final`` struct whose DDS type name follows ROS 2's IDL mapping
(``pkg::msg::dds_::Type_``) and whose fields match the ROS 2 ``.msg`` definition field by
field, in order. ``uint8[]`` payloads may be set as ``bytes``; received ones are lists of int
(cyclonedds' codec), which :mod:`vatex_ros.messages.images` accepts as well.

Field lists are checked against the ``.msg`` text (vision_msgs in ``msg/vision_msgs/``, read by
:mod:`vatex_ros.messages.definitions`) and against rosbags' CDR implementation in tests/ros.
"""

from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.annotations import final
from cyclonedds.idl.types import array, byte, float64, int32, sequence, uint8, uint32

from vatex_ros.messages import cdr


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


# --- rosgraph_msgs ------------------------------------------------------------------------


@final
@dataclass
class Clock(IdlStruct, typename="rosgraph_msgs::msg::dds_::Clock_"):
    clock: Time = field(default_factory=Time)  # simulated time (use_sim_time)


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


cdr.install(Image, cdr.encode_image, cdr.decode_image)


@final
@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header = field(default_factory=Header)
    format: str = ""  # "jpeg", "png" or image_transport's "rgb8; jpeg compressed bgr8"
    data: sequence[uint8] = b""


cdr.install(CompressedImage, cdr.encode_compressed_image, cdr.decode_compressed_image)


@final
@dataclass
class RegionOfInterest(IdlStruct, typename="sensor_msgs::msg::dds_::RegionOfInterest_"):
    x_offset: uint32 = 0
    y_offset: uint32 = 0
    height: uint32 = 0
    width: uint32 = 0
    do_rectify: bool = False


@final
@dataclass
class CameraInfo(IdlStruct, typename="sensor_msgs::msg::dds_::CameraInfo_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0  # calibrated image size (pixels, before binning/ROI)
    width: uint32 = 0
    distortion_model: str = ""  # "plumb_bob", "rational_polynomial", "equidistant", ...
    d: sequence[float64] = field(default_factory=list)  # distortion coefficients; plumb_bob: k1 k2 p1 p2 k3
    k: array[float64, 9] = field(default_factory=lambda: [0.0] * 9)  # row-major 3x3 intrinsics
    r: array[float64, 9] = field(default_factory=lambda: [0.0] * 9)  # row-major 3x3 rectification
    p: array[float64, 12] = field(default_factory=lambda: [0.0] * 12)  # row-major 3x4 projection
    binning_x: uint32 = 0  # 0 and 1 both mean no binning
    binning_y: uint32 = 0
    roi: RegionOfInterest = field(default_factory=RegionOfInterest)  # all zeros = full resolution


@final
@dataclass
class PointField(IdlStruct, typename="sensor_msgs::msg::dds_::PointField_"):
    FLOAT32 = 7  # datatype constant of the .msg (class attribute, not a field)

    name: str = ""
    offset: uint32 = 0  # bytes from the start of a point
    datatype: uint8 = 0
    count: uint32 = 0


@final
@dataclass
class PointCloud2(IdlStruct, typename="sensor_msgs::msg::dds_::PointCloud2_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0  # 1 for unordered clouds
    width: uint32 = 0  # points per row
    fields: sequence[PointField] = field(default_factory=list)
    is_bigendian: bool = False
    point_step: uint32 = 0  # bytes per point
    row_step: uint32 = 0  # bytes per row
    data: sequence[uint8] = b""
    is_dense: bool = False  # True: no invalid (NaN) points


cdr.install(PointCloud2, cdr.encode_point_cloud2, cdr.decode_point_cloud2)


# --- geometry_msgs ------------------------------------------------------------------------


@final
@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@final
@dataclass
class PointStamped(IdlStruct, typename="geometry_msgs::msg::dds_::PointStamped_"):
    header: Header = field(default_factory=Header)
    point: Point = field(default_factory=Point)


@final
@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
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


@final
@dataclass
class BoundingBox3D(IdlStruct, typename="vision_msgs::msg::dds_::BoundingBox3D_"):
    center: Pose = field(default_factory=Pose)  # metres, in the header's frame
    size: Vector3 = field(default_factory=Vector3)  # metres, along the box axes


@final
@dataclass
class Detection3D(IdlStruct, typename="vision_msgs::msg::dds_::Detection3D_"):
    header: Header = field(default_factory=Header)
    results: sequence[ObjectHypothesisWithPose] = field(default_factory=list)
    bbox: BoundingBox3D = field(default_factory=BoundingBox3D)
    id: str = ""


@final
@dataclass
class Detection3DArray(IdlStruct, typename="vision_msgs::msg::dds_::Detection3DArray_"):
    header: Header = field(default_factory=Header)
    detections: sequence[Detection3D] = field(default_factory=list)


# --- diagnostic_msgs (counters on /diagnostics) -----------------------------------------------


@final
@dataclass
class KeyValue(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    key: str = ""
    value: str = ""


@final
@dataclass
class DiagnosticStatus(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    OK, WARN, ERROR, STALE = 0, 1, 2, 3  # level constants of the .msg (class attributes, not fields)

    level: byte = 0
    name: str = ""  # by convention the node's name
    message: str = ""  # one-line summary
    hardware_id: str = ""
    values: sequence[KeyValue] = field(default_factory=list)


@final
@dataclass
class DiagnosticArray(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    header: Header = field(default_factory=Header)
    status: sequence[DiagnosticStatus] = field(default_factory=list)


# Every message type, for registries and tests.
ALL_TYPES: tuple[type[IdlStruct], ...] = (
    Time, Header, String, Clock, Image, CompressedImage, RegionOfInterest, CameraInfo, PointField, PointCloud2,
    Point, PointStamped, Vector3, Quaternion, Pose, PoseWithCovariance, Point2D, Pose2D, BoundingBox2D,
    ObjectHypothesis, ObjectHypothesisWithPose, Detection2D, Detection2DArray, BoundingBox3D, Detection3D,
    Detection3DArray, KeyValue, DiagnosticStatus, DiagnosticArray,
)
