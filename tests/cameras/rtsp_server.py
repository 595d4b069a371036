"""A small RTSP server for tests and benchmarks, run with Debian's /usr/bin/python3 (GStreamer + gi).

Serves one pre-encoded H.264 (or H.265) Matroska file on several paths (``/cam0``, ``/cam1``, ...). Each client gets
its own pipeline that plays the file from the start at real time (no re-encoding), so a file longer than
the test is all that is needed. Prints ``READY <port>`` on stdout once it listens.

Usage: rtsp_server.py FILE.mkv [--port N] [--paths cam0,cam1] [--user U --password P [--digest]] [--codec h265]
       [--audio]
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--paths", default="cam0")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--digest", action="store_true", help="ask for Digest authentication instead of Basic")
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264")
    ap.add_argument("--audio", action="store_true", help="the file also has an AAC track: serve it too")
    ap.add_argument("--g711", action="store_true", help="add a live G.711 u-law tone (like many IP cameras)")
    args = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    c = args.codec
    video = f"{c}parse config-interval=-1 ! rtp{c}pay name=pay0 pt=96 config-interval=-1"
    if args.audio:
        launch = (
            f'( filesrc location="{args.file}" ! matroskademux name=d d.video_0 ! queue ! {video} '
            "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
        )
    elif args.g711:
        launch = (
            f'( filesrc location="{args.file}" ! matroskademux ! {video} '
            "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=8000,channels=1 "
            "! mulawenc ! rtppcmupay name=pay1 pt=0 )"
        )
    else:
        launch = f'( filesrc location="{args.file}" ! matroskademux ! {video} )'

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if args.digest:
            auth.add_digest(args.user, args.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    for path in args.paths.split(","):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(False)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        if args.user:
            perm = GstRtspServer.RTSPPermissions()
            perm.add_permission_for_role("user", "media.factory.access", True)
            perm.add_permission_for_role("user", "media.factory.construct", True)
            factory.set_permissions(perm)
        mounts.add_factory("/" + path, factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen")
    sys.stdout.write(f"READY {server.get_bound_port()}\n")
    sys.stdout.flush()
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
