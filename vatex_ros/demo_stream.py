"""The demo's world: a scripted camera stream of synthetic scenes and a person naming objects in it.

The script is deterministic in :class:`DemoConfig`, so the process that plays it (:func:`play`,
started by `vatex demo` in a child process) and the process that scores the node's answers
build the same one (:func:`build_script`) and only exchange which step went out with which stamp.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import numpy as np

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
    targets_per_scene: int = 2  # then the camera moves on to another scene
    node_timeout: float = 180.0  # seconds to wait for the node to come up (model loading included)
    repeat_after: float = 2.0  # seconds before the person repeats an expression the node did not take
    frame_id: str = "demo_camera_optical"  # header.frame_id of the frames (a coordinate frame)

    def __post_init__(self) -> None:
        if self.frames < 1 or self.fps <= 0 or self.frames_per_target < 1 or self.targets_per_scene < 1:
            raise ValueError(f"demo needs frames >= 1, fps > 0 and positive schedule lengths, got {self}")
        if self.width < 32 or self.height < 32:
            raise ValueError(f"demo frames must be at least 32x32, got {self.width}x{self.height}")

    @property
    def frames_per_scene(self) -> int:
        return self.frames_per_target * self.targets_per_scene

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
    object_id: str  # the object the person has named
    expression: str  # what the person said (one of the scene's unambiguous expressions for it)


def build_script(cfg: DemoConfig) -> tuple[list, list[DemoStep]]:
    """The synthetic video scenes and the step-by-step script of the demo.

    Returns:
        (scenes, steps): ``training.synthetic.SyntheticScene`` list (videos of ``frames_per_scene``
        frames, (H, W) = (height, width)) and one :class:`DemoStep` per published frame.
    """
    from training.synthetic import SyntheticConfig, make_video_scenes

    count = -(-cfg.frames // cfg.frames_per_scene)  # ceil
    synthetic = SyntheticConfig(height=cfg.height, width=cfg.width, num_frames=cfg.frames_per_scene,
                                min_objects=cfg.targets_per_scene, max_objects=max(4, cfg.targets_per_scene))
    scenes = make_video_scenes(synthetic, "test", count, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    steps: list[DemoStep] = []
    for scene_index, scene in enumerate(scenes):
        named = rng.permutation(len(scene.objects))[: cfg.targets_per_scene]  # distinct objects per scene
        for k in range(cfg.frames_per_scene):
            if len(steps) == cfg.frames:
                break
            obj = scene.objects[int(named[k // cfg.frames_per_target])]
            expression = obj.expressions[int(rng.integers(len(obj.expressions)))] if (
                k % cfg.frames_per_target == 0) else steps[-1].expression
            steps.append(DemoStep(len(steps), scene_index, k, obj.object_id, expression))
    return scenes, steps


def play(cfg: DemoConfig, published: Queue, stop: Event) -> None:
    """Publish the script's frames at ``cfg.fps`` and its expressions when the person switches target.

    Runs in its own process. Puts ``(step index, (sec, nanosec) stamp)`` on ``published`` for every
    frame sent, then None when done (also when the node never came up or ``stop`` was set).
    """
    from vatex_ros import topics
    from vatex_ros.image_conversion import array_to_image
    from vatex_ros.messages import Header, Time
    from vatex_ros.node_client import NodeClient, stamp_key

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C hits the process group: the demo process stops us
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scenes, steps = build_script(cfg)
    client = NodeClient(outputs=(topics.ACTIVE_EXPRESSION,))
    try:
        if not client.wait_for_node(cfg.node_timeout):
            logger.error("no node answered on the image/expression topics within %.0f s", cfg.node_timeout)
            return
        said, said_at = steps[0].expression, time.monotonic()
        client.say(said)  # the person names the first object before the stream starts: no frames
        for _ in range(int(cfg.node_timeout / cfg.repeat_after)):  # wait for the first expression to take
            if client.wait(lambda: client.active_expression() == said, cfg.repeat_after):
                break
            client.say(said)
        logger.info("person: %r", said)
        start = time.monotonic()
        for step in steps:
            if stop.is_set():
                return
            repeat = client.active_expression() != said and time.monotonic() - said_at > cfg.repeat_after
            if step.expression != said or repeat:  # a person repeats what was not heard
                client.say(step.expression)
                said, said_at = step.expression, time.monotonic()
                logger.info("person: %r", step.expression)
            now = time.time()
            sec = int(now)
            header = Header(stamp=Time(sec=sec, nanosec=int((now - sec) * 1e9)), frame_id=cfg.frame_id)
            msg = array_to_image(scenes[step.scene].load_frames([step.frame])[0], "rgb8", header)
            client.publish_image(msg)
            published.put((step.index, stamp_key(header)))
            time.sleep(max(0.0, start + (step.index + 1) / cfg.fps - time.monotonic()))
    finally:
        published.put(None)
        client.close()
