"""Our fast codec against a plain-IdlStruct peer in another process, over loopback DDS in both directions; and
undecodable frames reaching the DDS node: counted, never a crash."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cdr_peer import QOS
from ros_fakes import DdsProbe, FakePredictor, frame_msg, scene, wait_until

from vatex_ros.messages import idl as m

pytestmark = pytest.mark.dds

PEER = Path(__file__).with_name("cdr_peer.py")
RNG = np.random.default_rng(1)


def _messages() -> dict[str, list]:
    header = m.Header(stamp=m.Time(sec=7, nanosec=8), frame_id="kamera_ü")
    xyz = [m.PointField(name=a, offset=4 * i, datatype=m.PointField.FLOAT32, count=1) for i, a in enumerate("xyz")]
    return {
        "image": [m.Image(header=header, height=h, width=w, encoding=enc, step=step,
                          data=RNG.integers(0, 256, step * h, dtype=np.uint8).tobytes())
                  for w, h, enc, step in ((641, 3, "rgb8", 1923), (5, 4, "mono16", 12), (0, 0, "rgb8", 0),
                                          (320, 240, "bgr8", 960))],
        "compressed": [m.CompressedImage(header=header, format="jpeg", data=bytes(range(200)))],
        "cloud": [m.PointCloud2(header=header, height=1, width=n, fields=xyz, point_step=12, row_step=12 * n,
                                data=RNG.random((n, 3), dtype=np.float32).tobytes(), is_dense=True)
                  for n in (0, 2000)],
    }


def test_fast_and_plain_peers_exchange_messages_both_ways(dds_env):
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from vatex_ros.dds.participant import domain_id_from_env

    sent = _messages()
    peer = subprocess.Popen([sys.executable, str(PEER), "60"], env=dds_env)
    try:
        participant = DomainParticipant(domain_id_from_env())
        kinds = {"image": m.Image, "compressed": m.CompressedImage, "cloud": m.PointCloud2}
        writers = {k: DataWriter(participant, Topic(participant, f"rt/cdr_test/fast_{k}", c), qos=QOS)
                   for k, c in kinds.items()}
        readers = {k: DataReader(participant, Topic(participant, f"rt/cdr_test/plain_{k}", c), qos=QOS)
                   for k, c in kinds.items()}
        assert wait_until(lambda: all(w.get_publication_matched_status().current_count for w in writers.values())
                          and all(r.get_subscription_matched_status().current_count for r in readers.values()),
                          timeout=30), "the plain peer did not match our types (type information differs?)"
        for kind, messages in sent.items():
            for msg in messages:
                writers[kind].write(msg)  # our codec -> the peer's generic decoder
        echoes = {kind: [] for kind in kinds}

        def all_back() -> bool:
            for kind, reader in readers.items():
                echoes[kind] += reader.take(10)  # the peer's generic encoder -> our codec
            return all(len(echoes[k]) == len(sent[k]) for k in kinds)

        assert wait_until(all_back, timeout=30), {k: len(v) for k, v in echoes.items()}
    finally:
        peer.terminate()
        peer.wait(timeout=10)
    for kind, messages in sent.items():
        for echo, msg in zip(echoes[kind], messages):
            assert echo.header.frame_id == "kamera_ü|plain" and isinstance(echo.data, memoryview)
            echo.header.frame_id = msg.header.frame_id
            assert echo == msg  # every field, payload bytes included


def test_undecodable_frames_are_counted_and_the_node_keeps_serving(dds_env):
    from cyclonedds._clayer import ddspy_write  # what DataWriter.write calls: raw bytes on the wire
    from cyclonedds.domain import DomainParticipant

    from vatex_ros.dds.transport import DdsNode
    from vatex_ros.dds.participant import domain_id_from_env
    from vatex_ros.node.params import NodeParams

    node = DdsNode(FakePredictor(), NodeParams(found_after=1, max_frame_age=0.0, warn_interval=60.0),
                   participant=DomainParticipant(domain_id_from_env()))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    try:
        counts = node.core.diagnostics.counts
        good = frame_msg(scene())
        raw = good.serialize()
        assert wait_until(lambda: probe.image.get_publication_matched_status().current_count >= 1, timeout=10)
        # Cyclone itself refuses structurally broken CDR (a writer gets BAD_PARAMETER, a reader drops it) ...
        for truncated in (raw[:len(raw) // 2 & ~3], raw[:40], raw[:4] + b"\xff" * 16):
            assert ddspy_write(probe.image._ref, truncated) == -3
        probe.say("red")  # the node takes frames only once an expression is in force
        assert _repeat_until(lambda: probe.image.write(good), lambda: probe.detections_for("red"))
        # ... what passes its check but is no valid message reaches our codec: counted and dropped
        not_utf8 = raw.replace(b"camera", b"cam\xffra")
        assert _repeat_until(lambda: ddspy_write(probe.image._ref, not_utf8),
                             lambda: counts().get("image_undecodable", 0) >= 1)
        served = len(probe.detections_for("red"))
        assert _repeat_until(lambda: probe.image.write(good), lambda: len(probe.detections_for("red")) > served)
    finally:
        probe.close()
        node.close()


def _repeat_until(action, predicate, timeout: float = 10.0) -> bool:
    """Repeat ``action`` every 50 ms (best-effort topics) until ``predicate()`` or ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        action()
        time.sleep(0.05)
    return bool(predicate())
