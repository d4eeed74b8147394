"""Programs that drive a node: demo, benchmark, rosbag2 processing, soak."""
