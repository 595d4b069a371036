"""Users, roles, site scopes, authentication and the audit log; the one door to evidence."""

from akashi.access.audit import audit, audit_now, entries_for, verify_audit
from akashi.access.evidence import MediaHandle, MediaInfo, open_call_media, open_segment_media
from akashi.access.export import export_call, export_camera_range, export_incident
from akashi.access.passwords import hash_password, verify_password
from akashi.access.principal import Principal, authenticate, load_principal, visible_calls

__all__ = [
    "MediaHandle",
    "MediaInfo",
    "Principal",
    "audit",
    "audit_now",
    "authenticate",
    "entries_for",
    "export_call",
    "export_camera_range",
    "export_incident",
    "hash_password",
    "load_principal",
    "open_call_media",
    "open_segment_media",
    "verify_audit",
    "verify_password",
    "visible_calls",
]
