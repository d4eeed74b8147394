"""ROS 2 side of VATEX for robots: node core, transports, message conversion and the `vatex` CLI.

Nothing here imports rclpy at module level; the rclpy transport loads it when started.
"""
