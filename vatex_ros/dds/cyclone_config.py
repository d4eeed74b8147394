"""Cyclone DDS settings the node needs (plain strings: importing this module starts no DDS)."""

# Cyclone's default socket receive buffer (1 MiB) drops best-effort 720p and 1080p frames (2.8 and 6.2 MB of UDP
# each): ask for 32 MiB and take what the kernel allows (net.core.rmem_max; docs/performance.md, "Large frames
# over DDS").
RECEIVE_BUFFER_XML = '<Internal><SocketReceiveBufferSize min="default" max="32MiB"/></Internal>'

NODE_CYCLONEDDS_XML = f'<CycloneDDS><Domain id="any">{RECEIVE_BUFFER_XML}</Domain></CycloneDDS>'
"""`vatex node`'s Cyclone configuration when the user gives none (``CYCLONEDDS_URI`` unset): defaults otherwise."""
