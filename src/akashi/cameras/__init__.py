"""Camera recording: RTSP ingest, segmenter, per-camera supervisor, upload queue, export, thumbnails.

Entry points: :class:`akashi.cameras.service.CameraService` (run by ``akashi serve`` and
``akashi cameras run``), :func:`akashi.cameras.export.export_cameras`, :func:`akashi.cameras.live.live_fmp4`.
"""
