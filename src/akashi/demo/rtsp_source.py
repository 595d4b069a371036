"""The demo camera: a generated H.264 test picture served over RTSP on loopback.

Run with Debian's own Python (``/usr/bin/python3``), which has GStreamer's RTSP server through
``gi``; Akashi's environment need not. Prints ``READY <port>`` once it listens and serves until killed.

Usage: rtsp_source.py [--port N] [--path demo]
"""

import argparse
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

#: a small live picture (a moving ball), a keyframe every second: cheap to encode, quick to segment
LAUNCH = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=10/1 "
    "! x264enc speed-preset=ultrafast key-int-max=20 bframes=0 threads=1 bitrate=400 "
    "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


def main() -> None:
    """Serve the demo picture until killed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--path", default="demo")
    args = ap.parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("x264enc") is None:
        sys.exit("no x264enc (gstreamer1.0-plugins-ugly)")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(LAUNCH)
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory("/" + args.path, factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen")
    sys.stdout.write(f"READY {server.get_bound_port()}\n")
    sys.stdout.flush()
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
