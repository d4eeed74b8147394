"""Transport-independent node logic: parameters, topics, tracking, depth/3D, diagnostics, outputs."""
