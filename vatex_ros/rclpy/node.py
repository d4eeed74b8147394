"""rclpy transport: the ROS 2 node ``vatex_node`` over the same core as the DDS transport.

``ros2 launch vatex_ros vatex.launch.py`` runs :func:`main` (installed as lib/vatex_ros/vatex_node).
rclpy is imported inside functions only, so this module imports on machines without ROS 2;
starting the node there raises an ImportError that says what to do.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from vatex_ros.messages import idl
from vatex_ros.node import topics
from vatex_ros.node.core import FrameResult, NodeCore, Predictor
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NODE_NAME, NodeParams
from vatex_ros.rclpy.convert import from_ros, ros_class, to_ros

logger = logging.getLogger(__name__)

# Changing these needs a new model or new subscriptions: set them in the YAML and restart.
READ_ONLY = ("weights", "preset", "device", "input_size", "score_threshold", "image_format", "qos_depth",
             "publish_overlay", "use_depth", "depth_queue_size")


def require_rclpy() -> Any:
    """Import rclpy, or raise ImportError explaining how to get it (or how to run without it)."""
    try:
        import rclpy
    except ImportError as err:
        raise ImportError("vatex_node needs ROS 2's rclpy: source your ROS 2 setup (e.g. "
                          "`source /opt/ros/humble/setup.bash`) and build this package with colcon; "
                          "without ROS 2, run the same node over DDS with `vatex node`") from err
    return rclpy


class VatexRosNode:
    """Thin rclpy shell around :class:`NodeCore`: parameters, QoS, message conversion.

    Args:
        predictor: the model; default: loaded from the node's parameters.
        node_name: ROS node name (the YAML section).
    """

    def __init__(self, predictor: Predictor | None = None, node_name: str = NODE_NAME):
        require_rclpy()
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
        from rclpy.node import Node

        self.node = Node(node_name)
        self._declare_parameters()
        params = self._read_parameters()
        if predictor is None:
            from vatex_ros.node.predictor_loading import load_predictor
            predictor = load_predictor(params)
        clock = self.node.get_clock()
        self.core = NodeCore(predictor, params, self._publish_result_cb, self._publish_expression_cb,
                             clock=lambda: clock.now().nanoseconds * 1e-9)
        self._publishers = {t.name: self._publisher(t) for t in (topics.MASK, topics.DETECTIONS,
                                                                 topics.ACTIVE_EXPRESSION)}
        if params.publish_overlay:
            self._publishers[topics.OVERLAY.name] = self._publisher(topics.OVERLAY)
        if params.use_depth:
            self._publishers.update({t.name: self._publisher(t) for t in (topics.TARGET_POINT, topics.TARGET_CLOUD)})
        try:
            self._publishers[topics.TARGET.name] = self._publisher(topics.TARGET)
        except ImportError:
            self.node.get_logger().warning("vatex_ros/msg/VatexTarget is not generated (package built as "
                                           "ament_python?): the `target` topic is disabled")
        # Frames and expressions in separate groups; inference itself runs on the core's worker thread,
        # so neither an expression nor a parameter update ever waits for a running frame.
        image_topic = topics.image_topic(params.image_format)
        self._image_type = getattr(idl, image_topic.ros_type.rsplit("/", 1)[1])
        self.node.create_subscription(ros_class(image_topic.ros_type), image_topic.name, self.image_cb,
                                      self._qos(image_topic), callback_group=MutuallyExclusiveCallbackGroup())
        self.node.create_subscription(ros_class(topics.EXPRESSION.ros_type), topics.EXPRESSION.name,
                                      self.expression_cb, self._qos(topics.EXPRESSION),
                                      callback_group=MutuallyExclusiveCallbackGroup())
        if params.use_depth:  # depth and intrinsics only buffer; pairing happens on the inference worker
            depth_group = MutuallyExclusiveCallbackGroup()
            for topic, callback in ((topics.DEPTH, self.depth_cb), (topics.CAMERA_INFO, self.camera_info_cb)):
                self.node.create_subscription(ros_class(topic.ros_type), topic.name, callback, self._qos(topic),
                                              callback_group=depth_group)
        self.node.add_on_set_parameters_callback(self.parameters_cb)
        self.core.start()

    # --- parameters --------------------------------------------------------------------

    def _declare_parameters(self) -> None:
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

        for f in dataclasses.fields(NodeParams):
            descriptor = ParameterDescriptor(description=f.metadata["help"], read_only=f.name in READ_ONLY)
            bounds = f.metadata["range"]
            if bounds and isinstance(f.default, float):
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]),
                                                                      to_value=float(bounds[1]))]
            elif bounds:
                descriptor.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]))]
            if f.metadata["choices"]:
                descriptor.additional_constraints = "one of: " + ", ".join(f.metadata["choices"])
            self.node.declare_parameter(f.name, f.default, descriptor)

    def _read_parameters(self) -> NodeParams:
        return NodeParams.from_dict({name: self.node.get_parameter(name).value for name in NodeParams.names()})

    def parameters_cb(self, parameters: list) -> Any:
        """Validate a parameter update as a whole; apply it to the core only if valid."""
        from rcl_interfaces.msg import SetParametersResult

        try:
            params = self.core.params.replace(**{p.name: p.value for p in parameters})
        except (ValueError, TypeError) as err:
            return SetParametersResult(successful=False, reason=str(err))
        self.core.update_params(params)
        return SetParametersResult(successful=True)

    # --- topics ------------------------------------------------------------------------

    def _qos(self, topic: topics.Topic) -> Any:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=topic.depth or self.core.params.qos_depth,
            reliability=ReliabilityPolicy.RELIABLE if topic.reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if topic.transient_local else DurabilityPolicy.VOLATILE)

    def _publisher(self, topic: topics.Topic) -> Any:
        return self.node.create_publisher(ros_class(topic.ros_type), topic.name, self._qos(topic))

    def image_cb(self, msg: Any) -> None:
        self.core.submit_frame(from_ros(msg, self._image_type))

    def expression_cb(self, msg: Any) -> None:
        self.core.set_expression(msg.data)

    def depth_cb(self, msg: Any) -> None:
        self.core.submit_depth(from_ros(msg, idl.Image))

    def camera_info_cb(self, msg: Any) -> None:
        self.core.submit_camera_info(from_ros(msg, idl.CameraInfo))

    def _publish_result_cb(self, result: FrameResult) -> None:
        outputs = build_outputs(result, with_overlay=topics.OVERLAY.name in self._publishers)
        for name, msg in outputs.by_topic().items():
            if name in self._publishers:
                self._publishers[name].publish(to_ros(msg))

    def _publish_expression_cb(self, expression: str) -> None:
        self._publishers[topics.ACTIVE_EXPRESSION.name].publish(to_ros(idl.String(data=expression)))

    def destroy(self) -> None:
        self.core.stop()
        self.node.get_logger().info(f"diagnostics: {self.core.diagnostics.counts()}")
        self.node.destroy_node()


def main(args: list[str] | None = None) -> None:
    """Entry point of ``vatex_node``: spin until shutdown (Ctrl-C)."""
    rclpy = require_rclpy()
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)  # not `with rclpy.init()`: Humble's init returns no context manager
    node = None
    try:
        node = VatexRosNode()
        executor = MultiThreadedExecutor()
        executor.add_node(node.node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy()
        rclpy.try_shutdown()
