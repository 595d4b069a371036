"""Codec-neutral media code shared by telephony, analysis and web, sans-I/O (no telephony imports).

``container``: the ``akrtp1`` format of calls kept as received RTP; ``timeline``: placing RTP
packets on a wall-clock sample grid; ``decode``: an ``akrtp1`` container to a playable WAV;
``encode``: announcement audio into the RTP payloads of a negotiated codec.
"""
