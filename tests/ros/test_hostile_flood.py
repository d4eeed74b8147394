"""A faster camera must not get fewer masks (issue 14, finding 4): frames that a newer one replaces are never
deserialized; only the frame the core processes is."""

import time

import numpy as np
import pytest
from ros_fakes import DdsProbe, FakePredictor, frame_msg, wait_until

from vatex_ros.dds.transport import DdsNode
from vatex_ros.dds.participant import domain_id_from_env
from vatex_ros.messages import idl
from vatex_ros.node.params import NodeParams

pytestmark = pytest.mark.dds
_INPUT_BYTES = 96 * 128 * 3  # an input frame; the node's own mono8 masks (read by the probe) are a third of it


def test_flood_deserializes_only_the_processed_frames(dds_env, monkeypatch):
    from cyclonedds.domain import DomainParticipant

    original = idl.Image.deserialize
    decoded = []

    def counting(cls, data, *args, **kwargs):
        if len(data) >= _INPUT_BYTES:
            decoded.append(len(data))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(idl.Image, "deserialize", classmethod(counting))
    predictor = FakePredictor(delay=0.05)  # 20 frames/s at most
    params = NodeParams(found_after=1, max_frame_age=0.0, publish_overlay=False, warn_interval=60.0)
    node = DdsNode(predictor, params, participant=DomainParticipant(domain_id_from_env()))
    probe = DdsProbe(DomainParticipant(domain_id_from_env()))
    try:
        probe.say("red")
        rgb = np.zeros((96, 128, 3), np.uint8)
        rgb[10:30, 10:30] = (255, 0, 0)
        assert wait_until(lambda: probe.image.get_publication_matched_status().current_count >= 1)
        for i in range(150):  # ~300 Hz for 0.5 s
            probe.image.write(frame_msg(rgb, stamp=i + 1))
            time.sleep(0.003)
        assert wait_until(lambda: node.core.diagnostics.counts().get("frames_out", 0) >= 3)
    finally:
        probe.close()
        node.close()  # joins the worker: a frame deserialized for processing has been processed
    counts = node.core.diagnostics.counts()
    processed = len(predictor.frames)
    assert counts["frames_in"] >= 3 * processed, counts  # the flood really outran the model
    assert len(decoded) <= processed + 2, f"{len(decoded)} frames deserialized for {processed} processed"
