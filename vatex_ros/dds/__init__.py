"""The Cyclone DDS transport (ROS 2 wire format without ROS) and its client side."""
