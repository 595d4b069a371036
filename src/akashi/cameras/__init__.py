"""Camera recording: RTSP ingest, segmenter, per-camera supervisor, upload queue, export, thumbnails.

How it fits together
--------------------
* :class:`~akashi.cameras.service.CameraService` (``akashi serve``, ``akashi cameras run``) runs one
  :class:`~akashi.cameras.supervisor.Supervisor` per enabled camera. A supervisor runs RTSP sessions
  (:func:`~akashi.cameras.recorder.run_session`, in a worker thread, TCP, reads always bounded) one after
  another with a capped backoff, and an :class:`~akashi.cameras.uploader.Uploader`.
* Who reads the RTSP (``camera_policy.rtsp_reader``): Akashi's own reader by default
  (:mod:`~akashi.cameras.reader` over the sans-I/O :mod:`~akashi.cameras.rtsp` and
  :mod:`~akashi.cameras.depacket`; :mod:`~akashi.cameras.native` runs its session), which takes about
  0.2 s of stream per read where FFmpeg's demuxer makes two system calls per RTP packet. It carries
  H.264/H.265 video; cameras with audio to keep, other codecs, B-frames or rtsps are read by PyAV
  (FFmpeg's demuxer). Both feed the same :class:`~akashi.cameras.segmenter.Session`.
* A session copies the stream (H.264/H.265 video, AAC/Opus/MP3 audio; never transcoded) into
  fragmented MP4 segments cut on keyframes every ``segment_seconds`` (0.25 s tolerance), and at once
  when the in-band SPS changes (new resolution). Segments are written under the spool first
  (:mod:`akashi.cameras.spool`), so a killed process leaves playable files that the next start
  recovers and stores.
* The uploader puts each closed segment into the evidence store (kind ``camera_segment``, retained
  ``camera_policy.retain_days``) and writes its ``camera_segments`` row, oldest first; when the store
  fails it retries in order. The service's :class:`~akashi.cameras.storer.SegmentStorer` stores the
  segments of all cameras in batches (one thread; per batch one transaction for the objects, their
  ledger entries and segment rows; each segment still its own data key, hashes and ledger entry).
* A session's reads are bounded (``camera_policy.socket_timeout_s``): Akashi's reader ends a session
  that brought no picture for that long; PyAV's reads are bounded by one watchdog thread
  (:mod:`akashi.cameras.deadline`), so a camera that trickles bytes is cut off without PyAV's
  per-read timeout, whose callback took the GIL thousands of times a second per camera. Uploaded local copies are dropped oldest first past
  ``camera_policy.local_max_mb``; passing the limit with segments not yet stored sets the camera's
  state to ``alert`` (``cameras.extra["alert"]``) and emits an ``alert`` event.
* Every outage is one ``camera_gaps`` row from the last frame before it to the first frame after it
  (reason: end of stream, timeout, cannot connect, recorder not running), so segments and gaps tile
  the timeline.

Cameras come from ``[[cameras]]`` in ``akashi.toml`` and from ``akashi cameras add`` (kept in the
database, URL sealed with AES-GCM under a key derived from the installation key; ``akashi.toml`` is
never rewritten). ``akashi cameras remove`` stops a CLI-added camera; its footage stays. Cameras are
read at start: restart the service after adding or removing one.

Other entry points: :func:`akashi.cameras.export.export_cameras` (``akashi export camera``),
:func:`akashi.cameras.live.open_live` (live fMP4 for the web UI), :func:`akashi.cameras.thumbs.segment_thumbnails`,
:func:`akashi.cameras.retention.apply_camera_holds` (incident holds) and
:func:`akashi.cameras.status.camera_status` (``akashi cameras list``).
"""
