"""rclpy transport: the ROS 2 lifecycle node ``vatex_node`` over the same core as the DDS transport.

``ros2 launch vatex_ros vatex.launch.py`` starts ``lib/vatex_ros/vatex_node``, which runs
:func:`main` (through ``python -m vatex_ros.rclpy``, which explains what to do when rclpy is missing).

Lifecycle (as yolo_ros): parameters are declared at start and read on ``configure``, which loads the
model and creates the (lifecycle) publishers; ``activate`` starts inference and subscribes;
``deactivate`` unsubscribes and stops inference; ``cleanup`` releases the model and the publishers;
``shutdown`` does what is left of both. With the ``autostart`` parameter (default true) the node
configures and activates itself, so plain ``ros2 run``/``ros2 launch`` just works.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.exceptions import ParameterUninitializedException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from vatex_ros.messages import idl
from vatex_ros.node import topics
from vatex_ros.node.core import FrameResult, NodeCore, Predictor
from vatex_ros.node.diagnostics import diagnostic_array
from vatex_ros.node.outputs import build_outputs
from vatex_ros.node.params import NODE_NAME, NodeParams
from vatex_ros.rclpy.convert import from_ros, ros_class, to_ros

try:
    from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks, UnsupportedEventTypeError

logger = logging.getLogger(__name__)

# Parameters that need a new model, publishers or subscriptions: changed only while unconfigured, applied at
# the next configure. The others apply to the running core from the next frame.
CONFIGURE_TIME = ("weights", "preset", "device", "cpu_threads", "input_size", "image_format", "cameras",
                  "qos_depth", "publish_overlay", "use_depth", "depth_queue_size", "autostart", "diagnostics_period")
RCLPY_OWNED = ("use_sim_time",)  # NodeParams fields rclpy declares itself
LATCHED_WATCH_PERIOD = 0.5  # seconds between looks for a transient-local (latched) expression publisher


def _qos(topic: topics.Topic, default_depth: int, transient_local: bool | None = None) -> QoSProfile:
    """rclpy QoS of a topic (DESIGN.md: outputs reliable, camera inputs best effort)."""
    latched = topic.transient_local if transient_local is None else transient_local
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=topic.depth or default_depth,
        reliability=ReliabilityPolicy.RELIABLE if topic.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class VatexNode(LifecycleNode):
    """Thin lifecycle shell around :class:`NodeCore`: parameters, QoS, message conversion.

    Args:
        predictor: the model; default: loaded from the parameters on each configure.
        node_name: ROS node name (remappable with ``-r __node:=...``).
        context: the rclpy context; default: the global one (``rclpy.init()``).
    """

    def __init__(self, predictor: Predictor | None = None, node_name: str = NODE_NAME, context: Any = None):
        super().__init__(node_name, context=context)
        self._given_predictor = predictor
        self.core: NodeCore | None = None
        self._publishers_by_topic: dict[str, Any] = {}
        self._subscriptions_made: list[Any] = []
        self._latched_readers: dict[str, Any] = {}  # expression topic -> its transient-local reader, while needed
        self._latched_watch: Any = None  # the timer that looks for transient-local expression publishers
        self._diagnostics: tuple[Any, Any] | None = None  # (publisher, timer) of /diagnostics while configured
        self._previous_counts: dict[str, int] | None = None
        self._image_type: type = idl.Image
        self._declare_parameters()
        self.add_on_set_parameters_callback(self.parameters_cb)
        if self.get_parameter("autostart").value:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # --- lifecycle ---------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read and validate the parameters, load the model, create the publishers."""
        try:
            params = self._read_parameters()
            predictor = self._given_predictor
            if predictor is None:
                from vatex_ros.node.predictor_loading import load_predictor
                predictor = load_predictor(params)
        except (OSError, RuntimeError, ValueError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        clock = self.get_clock()  # ROS time: /clock when use_sim_time is true
        self.core = NodeCore(predictor, params, self._publish_result_cb, self._publish_expression_cb,
                             clock=lambda: clock.now().nanoseconds * 1e-9)
        outputs = [topics.MASK, topics.DETECTIONS, topics.LABELS]
        outputs += [topics.OVERLAY] if params.publish_overlay else []
        outputs += list(topics.DEPTH_OUTPUTS) if params.use_depth else []
        self._publishers_by_topic = {topics.ACTIVE_EXPRESSION.name: self._lifecycle_publisher(topics.ACTIVE_EXPRESSION)}
        for camera in self.core.cameras:  # "" = the node's own topics
            self._publishers_by_topic.update({topics.camera_name(t.name, camera): self._lifecycle_publisher(t, camera)
                                              for t in outputs})
        if params.diagnostics_period:  # a plain publisher: counters matter in every state, not only when active
            publisher = self.create_publisher(ros_class(topics.DIAGNOSTICS.ros_type), topics.DIAGNOSTICS.name,
                                              _qos(topics.DIAGNOSTICS, params.qos_depth))
            timer = self.create_timer(params.diagnostics_period, self.diagnostics_cb,
                                      callback_group=MutuallyExclusiveCallbackGroup())
            self._diagnostics, self._previous_counts = (publisher, timer), None
        self.get_logger().info(f"configured: model loaded ({params.preset}, {params.device}); "
                               f"publishing {', '.join(self._publishers_by_topic)}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers, start inference and subscribe to the inputs."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        params = self.core.params
        self.core.start()
        self._image_type = getattr(idl, topics.image_topic(params.image_format).ros_type.rsplit("/", 1)[1])
        # Frames and expressions in separate groups; inference runs on the core's worker thread, so neither an
        # expression nor a parameter update ever waits for a running frame.
        expression_group = MutuallyExclusiveCallbackGroup()
        for topic, callback in self._expression_topics():
            self._subscribe(topic, callback, expression_group)
        self._latched_watch = self.create_timer(LATCHED_WATCH_PERIOD, lambda: self._follow_latched(expression_group),
                                                callback_group=expression_group)
        self._follow_latched(expression_group)
        images = [self._subscribe_camera(camera) for camera in self.core.cameras]
        self.get_logger().info(f"active: subscribed to {', '.join(images)} and {topics.EXPRESSION.name}, "
                               f"{topics.EXPRESSIONS.name}")
        return result

    def _subscribe_camera(self, camera: str) -> str:
        """Subscribe to one camera's inputs, each in its own group (a busy camera never delays another's
        callbacks); returns the image topic's name."""
        params = self.core.params
        # `image` remapped first, then image_transport's `/compressed` appended (topics.input_image_name)
        image_topic = dataclasses.replace(topics.image_topic(params.image_format), name=topics.input_image_name(
            self.resolve_topic_name(topics.camera_name(topics.IMAGE.name, camera)), params.image_format))
        self._subscribe_counting_lost(image_topic, lambda msg: self.image_cb(msg, camera),
                                      MutuallyExclusiveCallbackGroup())
        if params.use_depth:  # depth and intrinsics only buffer; pairing happens on the inference worker
            depth_group = MutuallyExclusiveCallbackGroup()
            for topic, callback in ((topics.DEPTH, self.depth_cb), (topics.CAMERA_INFO, self.camera_info_cb)):
                self._subscribe_counting_lost(dataclasses.replace(topic, name=topics.camera_name(topic.name, camera)),
                                              lambda msg, cb=callback: cb(msg, camera), depth_group)
        return image_topic.name

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop inference (the model stays loaded)."""
        self._unsubscribe()
        self.core.stop()
        self.get_logger().info("inactive: unsubscribed, inference stopped")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model and the publishers."""
        self._release_core()
        self.get_logger().info("unconfigured: model and publishers released")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release whatever the current state holds."""
        self.release()
        return super().on_shutdown(state)

    def release(self) -> None:
        """Unsubscribe, stop inference, release the model and publishers (any state; also at process exit)."""
        self._unsubscribe()
        self._release_core()

    def _release_core(self) -> None:
        if self.core is not None:
            self.core.stop()
            counts = f"diagnostics: {self.core.diagnostics.counts()}"
            if self.context.ok():
                self.get_logger().info(counts)
            else:  # after Ctrl-C rclpy's context is shut down: its logger could not reach /rosout any more
                logger.info("%s", counts)
        for publisher in self._publishers_by_topic.values():
            self.destroy_lifecycle_publisher(publisher)
        if self._diagnostics is not None:
            publisher, timer = self._diagnostics
            self.destroy_timer(timer)
            self.destroy_publisher(publisher)
            self._diagnostics = None
        self._publishers_by_topic, self.core = {}, None

    # --- parameters --------------------------------------------------------------------

    def _declare_parameters(self) -> None:
        for f in dataclasses.fields(NodeParams):
            if f.name in RCLPY_OWNED:
                continue
            constraints = ["one of: " + ", ".join(f.metadata["choices"])] if f.metadata["choices"] else []
            if f.name in CONFIGURE_TIME:
                constraints.append("applied at configure: change it while unconfigured")
            descriptor = ParameterDescriptor(description=f.metadata["help"],
                                             additional_constraints="; ".join(constraints))
            if isinstance(f.default, tuple):  # rclpy cannot tell an empty list's type: declared by type, no value
                self.declare_parameter(f.name, Parameter.Type.STRING_ARRAY, descriptor)
                continue
            bounds = f.metadata["range"]
            if bounds and isinstance(f.default, float):
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]),
                                                                      to_value=float(bounds[1]))]
            elif bounds:
                descriptor.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]))]
            self.declare_parameter(f.name, f.default, descriptor)

    def _read_parameters(self) -> NodeParams:
        values = {}
        for name in NodeParams.names():
            try:
                values[name] = self.get_parameter(name).value
            except ParameterUninitializedException:  # a list declared by type only and given no value
                continue
        return NodeParams.from_dict(values)

    def parameters_cb(self, parameters: list) -> SetParametersResult:
        """Validate an update as a whole; apply it to the running core only if valid.

        Parameters the node does not own (rclpy's own, e.g. ``qos_overrides.*``) are accepted untouched;
        ``use_sim_time`` is checked as a NodeParams field and rclpy switches the clock itself.
        """
        ours = {p.name: tuple(p.value) if isinstance(p.value, list) else p.value  # lists: NodeParams keeps tuples
                for p in parameters if p.name in NodeParams.names()}
        if not ours:
            return SetParametersResult(successful=True)
        try:
            current = self.core.params if self.core is not None else self._read_parameters()
        except ValueError:  # unconfigured with invalid values (configure failed): check the update on its own
            current = NodeParams()
        frozen = sorted(name for name in ours if name in CONFIGURE_TIME and ours[name] != getattr(current, name))
        if frozen and self.core is not None:
            return SetParametersResult(successful=False, reason=f"{', '.join(frozen)} apply at configure: "
                                       "deactivate and clean up the node first, then configure again")
        try:
            params = current.replace(**ours)
        except (ValueError, TypeError) as err:
            return SetParametersResult(successful=False, reason=str(err))
        if self.core is not None:
            if params.score_threshold != self.core.params.score_threshold and self._given_predictor is None:
                from vatex_ros.node.predictor_loading import set_score_threshold
                try:
                    set_score_threshold(self.core.predictor, params)
                except ValueError as err:  # a manifest that cannot be read: refused, the old threshold stays
                    return SetParametersResult(successful=False, reason=str(err))
            self.core.update_params(params)
        return SetParametersResult(successful=True)

    # --- topics ------------------------------------------------------------------------

    def _lifecycle_publisher(self, topic: topics.Topic, camera: str = "") -> Any:
        return self.create_lifecycle_publisher(ros_class(topic.ros_type), topics.camera_name(topic.name, camera),
                                               _qos(topic, self.core.params.qos_depth))

    def _subscribe(self, topic: topics.Topic, callback, group, transient_local: bool | None = None,
                   **kwargs: Any) -> None:
        self._subscriptions_made.append(self._subscription(topic, callback, group, transient_local, **kwargs))

    def _subscription(self, topic: topics.Topic, callback, group, transient_local: bool | None = None,
                      **kwargs: Any) -> Any:
        """A subscription to ``topic`` with the node's QoS for it (the caller keeps it, to destroy it)."""
        qos = _qos(topic, self.core.params.qos_depth, transient_local)
        return self.create_subscription(ros_class(topic.ros_type), topic.name, callback, qos, callback_group=group,
                                        **kwargs)

    def _subscribe_counting_lost(self, topic: topics.Topic, callback, group) -> None:
        """Subscribe to a best-effort input, counting the samples the RMW reports lost as ``samples_lost`` (an
        RMW without the message-lost event, e.g. some older ones, is subscribed to without it, once logged)."""
        try:
            self._subscribe(topic, callback, group, event_callbacks=SubscriptionEventCallbacks(
                message_lost=self.message_lost_cb))
        except UnsupportedEventTypeError:
            self.get_logger().info(f"{topic.name}: the RMW reports no lost messages; samples_lost stays 0",
                                   once=True)
            self._subscribe(topic, callback, group)

    def message_lost_cb(self, event: Any) -> None:
        """rmw's message-lost event (rmw_message_lost_status_t): count the newly lost samples."""
        if self.core is not None:
            self.core.diagnostics.count("samples_lost", event.total_count_change)

    def _expression_topics(self) -> tuple[tuple[topics.Topic, Any], ...]:
        return (topics.EXPRESSION, self.expression_cb), (topics.EXPRESSIONS, self.expressions_cb)

    def _follow_latched(self, group: Any) -> None:
        """A transient-local reader of each expression topic while a transient-local (latched) publisher is on it.

        The volatile reader gets no history from a latched publisher (an expression sent before the node was
        active); a transient-local reader does, but volatile publishers do not match it, and rclpy warns in
        their process about the incompatible QoS. So the second reader exists only while a latched publisher
        does (found on the graph every ``LATCHED_WATCH_PERIOD``). A sample both readers get is a re-sent
        expression: it changes nothing.
        """
        for topic, callback in self._expression_topics():
            publishers = self.get_publishers_info_by_topic(self.resolve_topic_name(topic.name))
            latched = any(info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for info in publishers)
            reader = self._latched_readers.get(topic.name)
            if latched and reader is None:
                self._latched_readers[topic.name] = self._subscription(
                    topic, callback, group, transient_local=True,
                    event_callbacks=SubscriptionEventCallbacks(incompatible_qos=lambda event: None))
            elif reader is not None and not latched:
                self.destroy_subscription(self._latched_readers.pop(topic.name))

    def _unsubscribe(self) -> None:
        if self._latched_watch is not None:
            self.destroy_timer(self._latched_watch)
            self._latched_watch = None
        for subscription in [*self._subscriptions_made, *self._latched_readers.values()]:
            self.destroy_subscription(subscription)
        self._subscriptions_made, self._latched_readers = [], {}

    def image_cb(self, msg: Any, camera: str = "") -> None:
        self.core.submit_frame(from_ros(msg, self._image_type), camera)

    def expression_cb(self, msg: Any) -> None:
        self.core.set_expression(msg.data)

    def expressions_cb(self, msg: Any) -> None:
        self.core.set_expressions(msg.data)

    def depth_cb(self, msg: Any, camera: str = "") -> None:
        self.core.submit_depth(from_ros(msg, idl.Image), camera)

    def camera_info_cb(self, msg: Any, camera: str = "") -> None:
        self.core.submit_camera_info(from_ros(msg, idl.CameraInfo), camera)

    def _publish_result_cb(self, result: FrameResult) -> None:
        publishers = {topic.name: self._publishers_by_topic[name] for topic in topics.CAMERA_OUTPUTS
                      if (name := topics.camera_name(topic.name, result.camera)) in self._publishers_by_topic}
        # Drawing and converting the overlay or the label image costs milliseconds per frame: only for a subscriber.
        wanted = {name for name in (topics.OVERLAY.name, topics.LABELS.name)
                  if name in publishers and publishers[name].get_subscription_count() > 0}
        outputs = build_outputs(result, with_overlay=topics.OVERLAY.name in wanted,
                                with_labels=topics.LABELS.name in wanted)
        for name, msg in outputs.by_topic().items():
            if name in publishers:
                publishers[name].publish(to_ros(msg))

    def diagnostics_cb(self) -> None:
        """Publish the core's counters on /diagnostics (diagnostic_msgs/DiagnosticArray)."""
        core, diagnostics = self.core, self._diagnostics
        if core is None or diagnostics is None:
            return
        counts = core.diagnostics.counts()
        now = self.get_clock().now().to_msg()  # node clock: /clock under use_sim_time
        message = diagnostic_array(counts, idl.Time(sec=now.sec, nanosec=now.nanosec),
                                   self.get_fully_qualified_name(), previous=self._previous_counts)
        self._previous_counts = counts
        diagnostics[0].publish(to_ros(message))

    def _publish_expression_cb(self, expression: str) -> None:
        publisher = self._publishers_by_topic.get(topics.ACTIVE_EXPRESSION.name)
        if publisher is not None:
            publisher.publish(to_ros(idl.String(data=expression)))


def spin(executor: Any) -> None:
    """``executor.spin()`` until shutdown, surviving a known rclpy race (ros2/rclpy#1284, #1206).

    A lifecycle transition runs in a service callback on one executor thread and destroys subscriptions with
    event handlers (message lost, incompatible QoS) while the spinning thread may be collecting those handlers
    for its next wait set; rclpy then raises ``InvalidHandle`` (``cannot use Destroyable because destruction was
    requested``) out of ``spin()``, which ended the node process on a deactivate under load. The destroyed
    entity is gone from the next wait set, so spinning again is safe.
    """
    while True:
        try:
            executor.spin()
            return
        except InvalidHandle as err:
            logger.debug("an entity was destroyed while the executor collected it (%s); spinning on", err)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``vatex_node``: spin until shutdown (Ctrl-C, SIGTERM)."""
    rclpy.init(args=args)  # not `with rclpy.init()`: Humble's init returns no context manager
    node = None
    try:
        node = VatexNode()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        spin(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.release()  # stops the worker and logs the counters, whatever the state
            node.destroy_node()
        rclpy.try_shutdown()
