"""A real rclpy node (on Fast DDS in the interop tests), run in its own process by test_fastdds_interop.py.

``python fastdds_peer.py SPEC OUT --seconds S`` reads the JSON file SPEC::

    {"publish": [{"key": k, "type": "sensor_msgs/msg/Image", "topic": "/ns/t", "fields": {...}, "period": 0.2}],
     "subscribe": [{"key": k, "type": "...", "topic": "...", "transient_local": false}]}

publishes each message (built from its plain ``fields``) every ``period`` seconds, reliable, and
writes OUT/<key>.published.json (the CDR bytes rclpy serialized) once per message and
OUT/<key>.received.json (plain fields and the CDR bytes as delivered) for the first sample of each
subscribed topic. It runs until SIGINT/SIGTERM or ``--seconds``, then prints its match counts.
Plain fields: nested messages are dicts, arrays and sequences lists, ``byte`` values ints.
"""

import argparse
import importlib
import json
import signal
import time
from pathlib import Path

import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.signals import SignalHandlerOptions
from rosidl_parser.definition import AbstractNestedType, BasicType, NamespacedType


def message_class(ros_type: str) -> type:
    """``sensor_msgs/msg/Image`` -> sensor_msgs.msg.Image."""
    package, _, name = ros_type.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _nested_class(slot: NamespacedType) -> type:
    return getattr(importlib.import_module(".".join(slot.namespaces)), slot.name)


def _fields(msg_or_class):
    return zip(msg_or_class.get_fields_and_field_types(), msg_or_class.SLOT_TYPES)


def to_plain(msg) -> dict:
    """A message as plain JSON values."""
    return {name: _plain(getattr(msg, name), slot) for name, slot in _fields(msg)}


def _plain(value, slot):
    if isinstance(slot, NamespacedType):
        return to_plain(value)
    if isinstance(slot, AbstractNestedType):
        return [_plain(v, slot.value_type) for v in value]
    if isinstance(slot, BasicType) and slot.typename == "octet":
        return value[0]  # rclpy holds a byte as bytes of length 1
    return value.item() if hasattr(value, "item") else value  # numpy scalars of fixed-size arrays


def from_plain(cls: type, fields: dict):
    """A message of class ``cls`` with the plain ``fields``."""
    msg = cls()
    for name, slot in _fields(cls):
        setattr(msg, name, _value(fields[name], slot))
    return msg


def _value(value, slot):
    if isinstance(slot, NamespacedType):
        return from_plain(_nested_class(slot), value)
    if isinstance(slot, AbstractNestedType):
        return [_value(v, slot.value_type) for v in value]
    if isinstance(slot, BasicType) and slot.typename == "octet":
        return bytes([value])
    return value


def _qos(transient_local: bool = False) -> QoSProfile:
    durability = DurabilityPolicy.TRANSIENT_LOCAL if transient_local else DurabilityPolicy.VOLATILE
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=durability)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)  # the test never reads a half-written file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("fastdds_peer")
    publishers = []
    for item in spec.get("publish", []):
        msg = from_plain(message_class(item["type"]), item["fields"])
        publisher = node.create_publisher(type(msg), item["topic"], _qos())
        _write_json(args.out / f"{item['key']}.published.json", {"cdr": serialize_message(msg).hex()})
        publishers.append((item, publisher, msg))
    subscriptions = []
    for item in spec.get("subscribe", []):
        cls, path = message_class(item["type"]), args.out / f"{item['key']}.received.json"

        def received(raw: bytes, cls=cls, path=path) -> None:
            if not path.exists():
                _write_json(path, {"fields": to_plain(deserialize_message(raw, cls)), "cdr": raw.hex()})

        subscriptions.append((item, node.create_subscription(cls, item["topic"], received,
                                                             _qos(item.get("transient_local", False)), raw=True)))
    print(f"peer up: {len(publishers)} publishers, {len(subscriptions)} subscriptions", flush=True)

    due = [0.0] * len(publishers)
    deadline = time.monotonic() + args.seconds
    while not stop and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.02)
        now = time.monotonic()
        for i, (item, publisher, msg) in enumerate(publishers):
            if now >= due[i]:
                publisher.publish(msg)
                due[i] = now + item.get("period", 0.2)
    for item, publisher, _ in publishers:
        print(f"publisher {item['topic']}: {publisher.get_subscription_count()} matched subscriptions")
    for item, subscription in subscriptions:
        print(f"subscription {item['topic']}: {subscription.get_publisher_count()} matched publishers")
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
