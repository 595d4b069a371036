"""Voice mining: transcription, Japanese text, harassment detection, notice compliance, reports.

Transcription runs in the job worker (``transcribe`` jobs), never inside the recorders.
"""
