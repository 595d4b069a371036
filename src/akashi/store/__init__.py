"""The evidence store: streaming encryption, local and S3 backends, spool, ledger, verify, export."""
