"""Per-frame work the node does beyond the model: exact 2D geometry without index arrays, and no output built or
sent that nobody subscribes to."""

import time

import numpy as np
import pytest
from ros_fakes import FakePredictor, frame_msg, scene

from vatex_ros.node import topics
from vatex_ros.node.core import _geometry


def _reference_geometry(mask):
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None, None, 0
    return (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())), (xs.mean(), ys.mean()), len(xs)


@pytest.mark.parametrize("shape", [(1, 1), (48, 64), (480, 640), (1080, 1920)])
def test_geometry_matches_the_index_array_reference(shape):
    rng = np.random.default_rng(shape[0])
    for density in (0.0, 1e-5, 0.01, 0.5, 1.0):
        mask = rng.random(shape) < density
        box, centroid, area = _geometry(mask)
        ref_box, ref_centroid, ref_area = _reference_geometry(mask)
        assert (box, area) == (ref_box, ref_area)
        assert centroid == ref_centroid if centroid is None else np.allclose(centroid, ref_centroid, rtol=0, atol=1e-9)
    assert _geometry(np.zeros(shape, bool)[:, ::-1]) == (None, None, 0)  # any strides


def test_dds_node_builds_and_sends_only_what_is_subscribed(dds_env, monkeypatch):
    from cyclonedds.domain import DomainParticipant

    from vatex_ros.dds import transport
    from vatex_ros.dds.client import NodeClient
    from vatex_ros.dds.transport import DdsNode
    from vatex_ros.dds.participant import domain_id_from_env
    from vatex_ros.node.params import NodeParams

    overlays = []
    build = transport.build_outputs
    monkeypatch.setattr(transport, "build_outputs",
                        lambda result, with_overlay, **labels: overlays.append(with_overlay)
                        or build(result, with_overlay, **labels))
    node = DdsNode(FakePredictor(), NodeParams(found_after=1, max_frame_age=0.0, publish_overlay=True),
                   participant=DomainParticipant(domain_id_from_env()))
    written = []
    for name, writer in node._writers.items():
        monkeypatch.setattr(writer, "write", lambda msg, w=writer.write, n=name: written.append(n) or w(msg))
    clients = [NodeClient(DomainParticipant(domain_id_from_env()), outputs=(topics.MASK,))]
    try:
        client = clients[0]
        assert client.wait_for_node(10)
        client.say("red")
        assert _stream_until(client, lambda: client.received["mask"])
        # transient local active_expression is always written; no detections, target or overlay for nobody
        assert set(written) == {"mask", "active_expression"} and not any(overlays)
        clients.append(NodeClient(DomainParticipant(domain_id_from_env()), outputs=(topics.OVERLAY,)))
        assert _stream_until(client, lambda: clients[1].received["overlay"])
        assert any(overlays) and {"mask", "overlay"} <= set(written) and "detections" not in written
    finally:
        for c in clients:
            c.close()
        node.close()


def _stream_until(client, predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        client.publish_image(frame_msg(scene(), stamp=time.time()))
        time.sleep(0.05)
    return bool(predicate())
