"""The lifecycle of vatex_node driven through its services, as a lifecycle manager does (autostart false):
configure loads the model and creates the publishers, activate subscribes, deactivate unsubscribes,
cleanup releases the publishers, shutdown finalizes."""

from __future__ import annotations

import pytest
from rclpy_harness import (
    NodeProcess, RosClient, client_environment, launch_command, launch_node_description, private_domain, ros_env,
    shipped_params_with, wait_until,
)

NODE = "/vatex/vatex_node"
IMAGE_TOPIC = "/camera/image_raw"


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rclpy_lifecycle")
    domain = private_domain()
    env = ros_env(domain)
    params_file = shipped_params_with({"autostart": False}, workdir / "vatex.yaml")
    command = launch_command(launch_node_description(params_file=str(params_file), image=IMAGE_TOPIC), workdir)
    with client_environment(env), NodeProcess(command, env, workdir / "node.log") as node:
        client = RosClient(domain, "lifecycle_manager")
        try:
            yield node, client
        finally:
            client.close()


def _state(client: RosClient) -> str:
    return client.get_state(NODE)


def _change(client: RosClient, transition: int) -> bool:
    from lifecycle_msgs.msg import Transition

    goals = {Transition.TRANSITION_CONFIGURE: "inactive", Transition.TRANSITION_ACTIVATE: "active",
             Transition.TRANSITION_DEACTIVATE: "inactive", Transition.TRANSITION_CLEANUP: "unconfigured",
             Transition.TRANSITION_INACTIVE_SHUTDOWN: "finalized"}
    return client.change_state(NODE, transition, goals[transition])


def _counts(client: RosClient) -> tuple[int, int, int]:
    """(publishers of mask, subscribers of the camera topic, subscribers of expression) in the ROS graph."""
    graph = client.node
    return (graph.count_publishers("/vatex/mask"), graph.count_subscribers(IMAGE_TOPIC),
            graph.count_subscribers("/vatex/expression"))


def _settles(client: RosClient, expected: tuple[int, int, int]) -> bool:
    return bool(wait_until(lambda: _counts(client) == expected, 30)) or _counts(client) == expected


def test_lifecycle_transitions_load_subscribe_and_release(managed):
    from lifecycle_msgs.msg import Transition
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    node, client = managed
    assert _state(client) == "unconfigured"  # autostart false: waits for a manager
    assert _settles(client, (0, 0, 0)) and "model loaded" not in node.output()

    assert _change(client, Transition.TRANSITION_CONFIGURE) and _state(client) == "inactive"
    assert "configured: model loaded" in node.output()
    assert _settles(client, (1, 0, 0)), _counts(client)  # publishers exist, nothing subscribed yet

    assert _change(client, Transition.TRANSITION_ACTIVATE) and _state(client) == "active"
    assert _settles(client, (1, 1, 1)), _counts(client)  # camera + expression (volatile: no latched publisher)

    assert _change(client, Transition.TRANSITION_DEACTIVATE) and _state(client) == "inactive"
    assert _settles(client, (1, 0, 0)), _counts(client)

    def set_use_depth() -> bool:
        request = SetParameters.Request(parameters=[Parameter("use_depth", value=True).to_parameter_msg()])
        return client.call(SetParameters, f"{NODE}/set_parameters", request).results[0].successful

    assert not set_use_depth()  # configured: takes effect at configure only
    assert _change(client, Transition.TRANSITION_CLEANUP) and _state(client) == "unconfigured"
    assert _settles(client, (0, 0, 0)), _counts(client)
    assert set_use_depth()  # unconfigured: accepted, applied at the next configure
    assert _change(client, Transition.TRANSITION_CONFIGURE)
    assert wait_until(lambda: client.node.count_publishers("/vatex/target_point") == 1, 30)

    assert _change(client, Transition.TRANSITION_INACTIVE_SHUTDOWN) and _state(client) == "finalized"
    assert _settles(client, (0, 0, 0)) and client.node.count_publishers("/vatex/target_point") == 0
    assert node.running()  # finalized, not dead: the process ends on SIGINT
    assert node.stop() == 0 and "diagnostics:" in node.output()
