"""ROS 2 message types for DDS, their .msg definitions, CDR codecs and Image <-> numpy."""
