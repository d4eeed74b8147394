"""The demo's world: a scripted camera stream of synthetic scenes and a person naming objects in it.

In each scene the person names ``targets_per_scene`` objects in view, then ``absent_per_scene``
times something that is not there (a no-target expression of the generator: a colour/shape/
size/place combination that matches nothing in the scene), which the node must report not found.
Every ``motion_every``-th scene is a motion video (:mod:`training.synthetic.motion`): objects glide
among look-alikes and the person names them by how they move ("the red circle moving left"), which
only a model that remembers past frames can answer.

The script is deterministic in :class:`DemoConfig`, so the process that plays it (:func:`play`,
started by `vatex demo` in a child process) and the process that scores the node's answers
build the same one (:func:`build_script`) and only exchange which step went out with which stamp.

Every frame goes out with an aligned depth image (16UC1, mm) and CameraInfo: each object is a
fronto-parallel surface at its own depth (:func:`object_depths`), so the 3D truth of the named
object is known exactly (:func:`~vatex_ros.tools.depth_scene.visible_surface_point` of its visible mask).
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, replace
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vatex_ros.messages.idl import CameraInfo, Header, Image

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo plays."""

    frames: int = 60  # frames published in total
    fps: float = 5.0  # camera rate
    seed: int = 0  # scenes and the expressions picked for them
    width: int = 160  # frame size in pixels
    height: int = 128
    frames_per_target: int = 10  # the person names a new object this often
    targets_per_scene: int = 2  # objects in view named per scene
    absent_per_scene: int = 1  # then something not in view is named this often; then the camera moves on
    motion_every: int = 2  # every this-many-th scene is a motion video named by motion expressions; 0 = none
    motion_speed: tuple[float, float] = (0.012, 0.025)  # motion videos: displacement per frame, of the short side
    node_timeout: float = 180.0  # seconds to wait for the node to come up (model loading included)
    repeat_after: float = 2.0  # seconds before the person repeats an expression the node did not take
    frame_id: str = "demo_camera_optical"  # header.frame_id of the frames (a coordinate frame)
    near: float = 0.6  # metres: depth of a scene's front object; the back one is at ``far``
    far: float = 1.5
    background_depth: float = 2.0  # metres: every pixel not on an object

    def __post_init__(self) -> None:
        if (self.frames < 1 or self.fps <= 0 or self.frames_per_target < 1 or self.targets_per_scene < 1
                or self.absent_per_scene < 0 or self.motion_every < 0):
            raise ValueError(f"demo needs frames >= 1, fps > 0 and positive schedule lengths, got {self}")
        if self.width < 32 or self.height < 32:
            raise ValueError(f"demo frames must be at least 32x32, got {self.width}x{self.height}")
        if not 0 < self.near <= self.far < self.background_depth:
            raise ValueError(f"demo depths need 0 < near <= far < background_depth, got {self}")

    @property
    def frames_per_scene(self) -> int:
        return self.frames_per_target * (self.targets_per_scene + self.absent_per_scene)

    @property
    def seconds(self) -> float:
        """Playing time of the stream."""
        return self.frames / self.fps


@dataclass(frozen=True)
class DemoStep:
    """One published frame of the script."""

    index: int  # position in the stream
    scene: int  # index into the script's scenes
    frame: int  # frame of that scene's video
    object_id: str  # the object the person has named (the scene's no-target object when absent)
    expression: str  # what the person said (one of the scene's unambiguous expressions for it)
    absent: bool = False  # the named object is not in view: the right answer is "not found"


def build_script(cfg: DemoConfig) -> tuple[list, list[DemoStep]]:
    """The synthetic video scenes and the step-by-step script of the demo.

    Returns:
        (scenes, steps): ``training.synthetic.SyntheticScene`` list (videos of ``frames_per_scene``
        frames, (H, W) = (height, width)) and one :class:`DemoStep` per published frame.
    """
    from training.stream_eval import is_motion_expression
    from training.synthetic import SyntheticConfig, make_motion_scenes, make_video_scenes
    from training.synthetic.config import MotionConfig

    count = -(-cfg.frames // cfg.frames_per_scene)  # ceil
    synthetic = SyntheticConfig(height=cfg.height, width=cfg.width, num_frames=cfg.frames_per_scene,
                                min_objects=cfg.targets_per_scene, max_objects=max(4, cfg.targets_per_scene),
                                no_target_rate=1.0 if cfg.absent_per_scene else 0.0)
    is_motion = [bool(cfg.motion_every) and index % cfg.motion_every == cfg.motion_every - 1 for index in range(count)]
    plain = iter(make_video_scenes(synthetic, "test", count - sum(is_motion), cfg.seed))
    # motion videos: the whole scene in view (no exits, no occluding band, no shake), look-alikes likely
    motion = MotionConfig(num_frames=cfg.frames_per_scene, speed=cfg.motion_speed, lookalike_prob=0.8, exit_prob=0.0,
                          occluder_prob=0.0, shake_prob=0.0)
    drawn = make_motion_scenes(replace(synthetic, motion=motion), "test", 4 * sum(is_motion), cfg.seed)
    def has_motion_expression(obj) -> bool:
        return any(map(is_motion_expression, obj.expressions))

    moving = iter(sorted(drawn, key=lambda scene: -min(cfg.targets_per_scene, sum(  # scenes with motion to name
        has_motion_expression(obj) for obj in scene.objects if not obj.no_target))))
    scenes = [next(moving) if flag else next(plain) for flag in is_motion]
    rng = np.random.default_rng(cfg.seed)
    steps: list[DemoStep] = []
    for scene_index, scene in enumerate(scenes):
        present = [obj for obj in scene.objects if not obj.no_target]
        absent = [obj for obj in scene.objects if obj.no_target][: 1 if cfg.absent_per_scene else 0]
        order = rng.permutation(len(present))
        if is_motion[scene_index]:  # objects a motion expression picks out first, named by one
            order = sorted(order, key=lambda i: not has_motion_expression(present[i]))
        named = [present[i] for i in order[: cfg.targets_per_scene]]  # distinct objects
        named += absent * cfg.absent_per_scene  # (a scene without no-target expressions has none to say)
        for k in range(len(named) * cfg.frames_per_target):
            if len(steps) == cfg.frames:
                break
            obj = named[k // cfg.frames_per_target]
            sayable = [e for e in obj.expressions if is_motion_expression(e)] if is_motion[scene_index] else []
            sayable = sayable or list(obj.expressions)
            expression = sayable[int(rng.integers(len(sayable)))] if (
                k % cfg.frames_per_target == 0) else steps[-1].expression
            steps.append(DemoStep(len(steps), scene_index, k, obj.object_id, expression, obj.no_target))
    return scenes, steps


def object_depths(cfg: DemoConfig, scene: Any) -> dict[str, float]:
    """Depth (m) of each object of a scene, evenly from ``cfg.far`` (drawn first) to ``cfg.near`` (drawn last).

    The generator draws later objects in front, so nearer objects are the ones that occlude.
    """
    ids = [obj.object_id for obj in scene.objects if not obj.no_target]  # drawing order
    steps = max(len(ids) - 1, 1)
    return {object_id: cfg.far - (cfg.far - cfg.near) * i / steps for i, object_id in enumerate(ids)}


def render_frame_depth(cfg: DemoConfig, scene: Any, frame: int, header: Header) -> tuple[Image, CameraInfo]:
    """Aligned depth image (16UC1, mm) and CameraInfo of one frame of a scene, both with ``header``."""
    from vatex_ros.tools.depth_scene import render_depth

    depths = object_depths(cfg, scene)
    masks = [scene.load_mask(object_id, [frame])[0] for object_id in depths]  # visible masks: disjoint
    return render_depth(masks, list(depths.values()), header, background=cfg.background_depth)


def camera_steps(cfg: DemoConfig, steps: list[DemoStep], offset: int) -> list[DemoStep]:
    """The script as a second camera sees it: each step ``offset`` frames later in the same scene's video
    (wrapping within the scene), so the named objects are there, moved."""
    return [replace(step, frame=(step.frame + offset) % cfg.frames_per_scene) for step in steps]


def play(cfg: DemoConfig, published: Queue, stop: Event, camera: str = "", offset: int = 0,
         speaks: bool = True) -> None:
    """Publish the script's frames (with depth and CameraInfo) at ``cfg.fps`` and, if ``speaks``, its expressions
    when the person switches target.

    Runs in its own process. Puts ``(camera, step index, (sec, nanosec) stamp)`` on ``published`` for every
    frame sent, then ``(camera, None, None)`` when done (also when the node never came up or ``stop`` was set).

    Args:
        camera: the node camera this process is (``cameras`` parameter; "" = the node's own topics).
        offset: frames this camera runs ahead in each scene (:func:`camera_steps`).
        speaks: this process is also the person (one process speaks for all cameras).
    """
    from vatex_ros.node import topics
    from vatex_ros.messages.images import array_to_image
    from vatex_ros.messages.idl import Header, Time
    from vatex_ros.dds.client import NodeClient, stamp_key

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C hits the process group: the demo process stops us
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scenes, steps = build_script(cfg)
    steps = camera_steps(cfg, steps, offset)
    client = NodeClient(outputs=(topics.ACTIVE_EXPRESSION,), camera=camera)
    try:
        if not client.wait_for_node(cfg.node_timeout):
            logger.error("no node answered on the image/expression topics within %.0f s", cfg.node_timeout)
            return
        said, said_at = steps[0].expression, time.monotonic()
        if speaks:
            client.say(said)  # the person names the first object before the stream starts: no frames
        for _ in range(int(cfg.node_timeout / cfg.repeat_after)):  # wait for the first expression to take
            if client.wait(lambda: client.active_expression() == said, cfg.repeat_after):
                break
            if speaks:
                client.say(said)
        logger.info("person: %r", said)
        start = time.monotonic()
        for step in steps:
            if stop.is_set():
                return
            repeat = client.active_expression() != said and time.monotonic() - said_at > cfg.repeat_after
            if speaks and (step.expression != said or repeat):  # a person repeats what was not heard
                client.say(step.expression)
                said, said_at = step.expression, time.monotonic()
                logger.info("person: %r", step.expression)
            now = time.time()
            sec = int(now)
            header = Header(stamp=Time(sec=sec, nanosec=int((now - sec) * 1e9)), frame_id=cfg.frame_id)
            msg = array_to_image(scenes[step.scene].load_frames([step.frame])[0], "rgb8", header)
            client.publish_depth(*render_frame_depth(cfg, scenes[step.scene], step.frame, header))  # before the frame
            client.publish_image(msg)
            published.put((camera, step.index, stamp_key(header)))
            time.sleep(max(0.0, start + (step.index + 1) / cfg.fps - time.monotonic()))
    finally:
        published.put((camera, None, None))
        client.close()
