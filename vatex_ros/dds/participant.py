"""Cyclone DDS participants that also match Fast DDS peers (rmw_fastrtps_cpp, ROS 2's default RMW).

Why a plain participant does not match them for most types (cyclonedds 11.0.1 against Fast DDS
3.2 of ROS 2 Kilted, read in Cyclone's discovery trace and in its ``ddsi_typewrap.c``):

- Both sides announce XTypes type information (cyclonedds-python derives it from every ``IdlStruct``)
  and Cyclone matches two endpoints at once only if their type ids, hashes of the type objects,
  are equal. Fast DDS gives the elements of sequences and arrays no try-construct flags; Cyclone
  gives them DISCARD, as XTypes 1.3 asks. So every type with a sequence or an array
  (``uint8[] data``, ``float64[9] k``, ``PointField[] fields``, ...) has a different id on each
  side; std_msgs/String and geometry_msgs/PointStamped, which have none, have equal ids and match.
- For the others Cyclone fetches Fast DDS's type objects (type lookup) to check assignability, and
  rejects them: flags 0 are invalid in XTypes 1.3 (``ddsi_xt_type_add_typeobj with invalid type
  object``). Accepting them (``Compatibility/AllowInvalidTryConstruct``) is not enough: Fast DDS
  answers the request for the MINIMAL type object with the COMPLETE one, and a member whose type is
  a ``@final`` struct, as every ROS 2 message is (``std_msgs/Header header``), must then have the
  same minimal type id, which a complete id never has (``assignability check failed ... wr type
  not delimited``). No type-consistency QoS of the reader relaxes that rule, so Image,
  CompressedImage, CameraInfo, PointCloud2, vision_msgs and diagnostic_msgs never match, in
  either direction.

The fix: Cyclone's ``Compatibility/IgnoreTypeInformation`` for eProsima's vendor id (1.15) makes
Cyclone match Fast DDS endpoints by topic and type name only, which is what the RMW layers do
between themselves (rmw_cyclonedds announces no type information at all). The bytes agree
because our types follow the ROS 2 IDL mapping field by field (checked against rosbags' CDR and
against rclpy on Fast DDS in tests/ros). Cyclone-to-Cyclone matching keeps its full type checks.
"""

from __future__ import annotations

import logging
import os
import threading

from cyclonedds.core import DDSException
from cyclonedds.domain import Domain, DomainParticipant

from vatex_ros.echo import shorten

logger = logging.getLogger(__name__)

FASTDDS_VENDOR_ID = "1.15"  # eProsima, in Cyclone's "major.minor" notation of RTPS vendor ids
FASTDDS_COMPATIBILITY_XML = (
    '<CycloneDDS><Domain id="any"><Compatibility>'
    f"<IgnoreTypeInformation>{FASTDDS_VENDOR_ID}</IgnoreTypeInformation>"
    "</Compatibility></Domain></CycloneDDS>")

_domains: dict[int, Domain] = {}  # kept for the life of the process: deleting a Domain deletes its participants
_lock = threading.Lock()


def domain_id_from_env() -> int:
    """``ROS_DOMAIN_ID`` as rmw_cyclonedds reads it (default 0)."""
    value = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) > 232:
        raise ValueError(f"ROS_DOMAIN_ID must be an integer in [0, 232], got {shorten(repr(value))}")
    return int(value)


def cyclone_config(uri: str) -> str:
    """Configuration of a domain: the Fast DDS compatibility setting, then ``uri`` (``CYCLONEDDS_URI``).

    Cyclone applies the comma-separated sources in order, so the user's files and XML come last
    and win over ours where both set the same option.
    """
    return f"{FASTDDS_COMPATIBILITY_XML},{uri}" if uri.strip() else FASTDDS_COMPATIBILITY_XML


def create_participant(domain_id: int | None = None) -> DomainParticipant:
    """A participant on ``domain_id`` (default ``ROS_DOMAIN_ID``) whose domain matches Fast DDS peers by type name.

    The first call for a domain creates it with :func:`cyclone_config` of ``CYCLONEDDS_URI``
    (a domain created explicitly does not read the variable itself); later participants of the
    domain share it. A domain that this process already created otherwise (a plain
    ``DomainParticipant``) is used as it is, with a warning: Cyclone fixes a domain's
    configuration when it is created.

    Raises:
        ValueError: bad ``ROS_DOMAIN_ID``, or Cyclone cannot start with ``CYCLONEDDS_URI`` (one line, naming it).
    """
    domain_id = domain_id_from_env() if domain_id is None else domain_id
    uri = os.environ.get("CYCLONEDDS_URI", "")
    with _lock:
        try:
            if domain_id not in _domains:
                try:
                    _domains[domain_id] = Domain(domain_id, cyclone_config(uri))
                except DDSException as err:
                    if err.code != DDSException.DDS_RETCODE_PRECONDITION_NOT_MET:
                        raise
                    logger.warning("DDS domain %d already exists in this process without %s: Fast DDS peers "
                                   "match only types without nested structs", domain_id, FASTDDS_COMPATIBILITY_XML)
            return DomainParticipant(domain_id)
        except DDSException as err:
            raise ValueError(f"Cyclone DDS cannot start on domain {domain_id} with CYCLONEDDS_URI="
                             f"{shorten(repr(uri))} ({shorten(str(err))}); fix or unset it") from None
