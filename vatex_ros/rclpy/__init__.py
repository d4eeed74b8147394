"""The rclpy transport: the ROS 2 node ``vatex_node`` over the node core."""
