"""Audio codecs below telephony: encoding announcement audio into RTP payloads."""
