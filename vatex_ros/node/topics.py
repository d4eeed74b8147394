"""The node's topics, types and QoS (DESIGN.md section 3), written once for both transports."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "/vatex"


@dataclass(frozen=True)
class Topic:
    """One topic of the node.

    Attributes:
        name: name relative to the node's namespace (remappable).
        ros_type: ROS 2 type name, e.g. ``sensor_msgs/msg/Image``.
        reliable: reliable (True) or best effort (False).
        depth: keep-last history depth; 0 means "the node's ``qos_depth`` parameter".
        transient_local: late joiners receive the last sample.
    """

    name: str
    ros_type: str
    reliable: bool
    depth: int = 0
    transient_local: bool = False


IMAGE = Topic("image", "sensor_msgs/msg/Image", reliable=False, depth=1)  # sensor data QoS
# image_format: compressed. Camera drivers publish it through image_transport, which names the compressed transport
# of a topic `<image>/compressed`: the node subscribes there, after `image` is remapped (see input_image_name).
COMPRESSED_IMAGE = Topic("image", "sensor_msgs/msg/CompressedImage", reliable=False, depth=1)
COMPRESSED_SUFFIX = "/compressed"
EXPRESSION = Topic("expression", "std_msgs/msg/String", reliable=True)
# Several expressions at once: one String holding them separated by `;` or new lines (see node.expressions).
EXPRESSIONS = Topic("expressions", "std_msgs/msg/String", reliable=True)
MASK = Topic("mask", "sensor_msgs/msg/Image", reliable=True)
DETECTIONS = Topic("detections", "vision_msgs/msg/Detection2DArray", reliable=True)
# mono8 label image: pixel = 1-based index of the expression whose target covers it, 0 = none; drawn only while
# someone subscribes.
LABELS = Topic("labels", "sensor_msgs/msg/Image", reliable=True)
OVERLAY = Topic("overlay", "sensor_msgs/msg/Image", reliable=True, depth=1)  # RViz2/rqt subscribe reliable
ACTIVE_EXPRESSION = Topic("active_expression", "std_msgs/msg/String", reliable=True, depth=1, transient_local=True)
# With the use_sim_time parameter only (ROS's clock QoS: best effort, keep last 1):
CLOCK = Topic("/clock", "rosgraph_msgs/msg/Clock", reliable=False, depth=1)
# With the use_depth parameter only:
DEPTH = Topic("depth", "sensor_msgs/msg/Image", reliable=False, depth=1)  # sensor data QoS, like image
CAMERA_INFO = Topic("camera_info", "sensor_msgs/msg/CameraInfo", reliable=False, depth=1)
TARGET_POINT = Topic("target_point", "geometry_msgs/msg/PointStamped", reliable=True)
TARGET_CLOUD = Topic("target_cloud", "sensor_msgs/msg/PointCloud2", reliable=True)
DETECTIONS_3D = Topic("detections_3d", "vision_msgs/msg/Detection3DArray", reliable=True)
# Published with use_depth; a frame without a 3D result publishes none of them.
DEPTH_OUTPUTS = (TARGET_POINT, TARGET_CLOUD, DETECTIONS_3D)
# Per camera (the `cameras` parameter): these under `<camera>/`; the others stay on the node's namespace.
CAMERA_INPUTS = (IMAGE, DEPTH, CAMERA_INFO)
CAMERA_OUTPUTS = (MASK, DETECTIONS, LABELS, OVERLAY, *DEPTH_OUTPUTS)
# ROS-wide counters (absolute name).
DIAGNOSTICS = Topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", reliable=True)


def camera_name(name: str, camera: str) -> str:
    """A camera topic's relative name: ``mask`` of camera ``head`` -> ``head/mask``; camera ``""`` (no
    ``cameras`` parameter) -> ``mask``, the node's own topic."""
    return f"{camera}/{name}" if camera else name


def image_topic(image_format: str) -> Topic:
    """Input topic for the ``image_format`` parameter (``raw`` or ``compressed``)."""
    return COMPRESSED_IMAGE if image_format == "compressed" else IMAGE


def input_image_name(resolved_image: str, image_format: str) -> str:
    """The topic the node reads frames from, given the fully resolved (remapped) name of ``image``.

    ``raw``: ``image`` itself. ``compressed``: ``<image>/compressed``, as image_transport names it, so that
    ``image:=/camera/image_raw`` reads ``/camera/image_raw/compressed``, the camera driver's compressed stream.
    """
    return resolved_image + COMPRESSED_SUFFIX if image_format == "compressed" else resolved_image


def resolve(name: str, namespace: str = DEFAULT_NAMESPACE, remappings: dict[str, str] | None = None) -> str:
    """Fully qualified ROS name of a relative topic: remapping first, then the namespace.

    ``resolve("mask")`` -> ``/vatex/mask``; ``resolve("image", remappings={"image": "/cam/rgb"})`` -> ``/cam/rgb``.
    """
    name = (remappings or {}).get(name, name)
    if name.startswith("/"):
        return name
    return f"{namespace.rstrip('/')}/{name}" if namespace.strip("/") else f"/{name}"
