"""Configuration of the SIP recording B2BUA: listen address, trunks, routes, announcements, agents."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)

from akashi.config.base import Section, auto_or_count, cores

#: the announcement a caller hears when nobody answers after the notice (built in unless configured)
UNAVAILABLE = "unavailable"
UNAVAILABLE_TEXT = (
    "申し訳ございません。ただいま電話に出ることができません。"
    "恐れ入りますが、しばらくたってからおかけ直しください。"
)

#: the live-protection messages' default texts (issue 14)
WARNING_TEXT = "これ以上のご発言が続く場合は、通話を終了させていただきます。この通話は録音されています。"
FINAL_TEXT = "通話を終了させていただきます。失礼いたします。"
LONG_CALL_TEXT = "お話の時間が長くなっておりますので、この後{minutes}分で終了させていただきます。"


def _as_network(value: object) -> object:
    """An address or network written as text becomes a network (host bits allowed: 10.1.0.5/16 is 10.1.0.0/16)."""
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} はアドレスでもネットワークでもありません / {value!r} is not an address or network"
            ) from exc
    if not isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        raise ValueError(  # a number or a table in TOML: never read as an address
            f"{value!r} は文字列で書いてください / write the address or network as a string"
        )
    return value


#: an address or network of a setting (``"203.0.113.5"``, ``"10.1.0.0/16"``, ``"2001:db8::/32"``)
Network = Annotated[IPvAnyNetwork, BeforeValidator(_as_network)]


#: the digest algorithms Akashi offers its agents' phones by default, strongest first (RFC 8760)
DIGEST_ALGORITHMS: tuple[Literal["SHA-256", "MD5"], ...] = ("SHA-256", "MD5")


class TrunkSettings(Section):
    """A SIP trunk (carrier or cloud PBX)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    name: str = Field(..., min_length=1)
    host: str = Field(..., min_length=1, description="host or host:port; outbound calls go here.")
    transport: Literal["udp", "tcp", "tls"] = Field(
        "udp",
        description="How calls and REGISTER reach the trunk; tls: port 5061 unless host says otherwise.",
    )
    username: str = ""
    password: SecretStr = SecretStr("")
    realm: str = Field(
        "", description="Digest realm of the trunk; when set, challenges of any other realm are not answered."
    )
    tls_ca: str = Field(
        "",
        description="CA certificates (PEM) the trunk's TLS certificate must chain to; empty: the system's.",
    )
    # "register" in akashi.toml; the attribute has another name because pydantic's BaseModel
    # already has a ``register`` (ABC) attribute
    register_: bool = Field(
        False, alias="register", description="REGISTER with the trunk (digest, refreshed)."
    )
    register_expires_s: int = Field(600, ge=60, le=86400)
    route_by: Literal["auto", "request_uri", "to", "p_called_party_id"] = Field(
        "auto",
        description="Which number of an inbound call from this trunk picks the route: the Request-URI's user, "
        "the To user, or P-Called-Party-ID (RFC 3455); auto: To when the trunk registers (its calls are "
        "addressed to Akashi's Contact), else the Request-URI. A header without a number falls back to the "
        "Request-URI.",
    )
    srtp: Literal["", "sdes"] = Field(
        "",
        description='"sdes": offer SRTP (RFC 4568, AES_CM_128_HMAC_SHA1_80) on calls placed on this trunk; '
        "a trunk answering in plain RTP is hung up. Empty: plain RTP.",
    )
    # the dial plan of outbound calls (akashi.telephony.dialplan): ordinary Japanese numbers only,
    # unless opened here
    dial_allow: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="Regular expressions (whole number) of dialled numbers allowed whatever their class, "
        'e.g. "0570123456" or "\\+1212555[0-9]{4}".',
    )
    allow_international: bool = Field(
        False, description="Allow international calls (010..., 00XY carrier prefixes, + other than +81)."
    )
    allow_premium: bool = Field(False, description="Allow premium-rate numbers (0990, 0570, 0180).")
    allow_emergency: bool = Field(True, description="Allow 110, 118 and 119.")
    # what the trunk sees of the caller (akashi.telephony.identity)
    from_user: str = Field(
        "",
        pattern=r"^[0-9+*#A-Za-z._-]*$",
        description="User of the From toward the trunk (the registered number); empty: the agent's SIP user.",
    )
    from_domain: str = Field(
        "",
        pattern=r"^[0-9A-Za-z.:\[\]-]*$",
        description="Host of the From toward the trunk; empty: Akashi's public_address (never the phone's).",
    )
    identity_header: Literal["pai", "ppi", ""] = Field(
        "",
        description='"pai": P-Asserted-Identity, "ppi": P-Preferred-Identity with from_user@from_domain; '
        "empty: neither.",
    )

    @field_validator("dial_allow")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"dial_allow pattern {p!r} is not a regular expression: {exc}") from exc
        return v


class RouteSettings(Section):
    """Where an inbound call for a dialled number rings."""

    match: str = Field(..., min_length=1, description='Dialled number, or "*" for anything.')
    ring: list[str] = Field(..., min_length=1, description="SIP URIs of the operator phones.")
    strategy: Literal["parallel", "sequential"] = "parallel"
    ring_timeout_s: int = Field(30, ge=1, le=600)
    srtp: Literal["", "sdes"] = Field(
        "",
        description='"sdes": offer SRTP (RFC 4568, AES_CM_128_HMAC_SHA1_80) to the phones this route rings, '
        "and hang up a call whose phone answers in plain RTP; empty: plain RTP toward them.",
    )
    announcement: str = "default"
    unavailable_announcement: str = Field(
        UNAVAILABLE,
        max_length=64,
        description=(
            "Played when nobody answers after the notice (the caller was answered to hear it), "
            "before Akashi hangs up; empty: hang up at once."
        ),
    )
    site: str = ""
    # -- operator legs that a PBX challenges (issue 15 item 4) ----------------------------------
    ring_username: str = Field(
        "", max_length=256, description="Digest user answering a 401/407 of this route's ring targets."
    )
    ring_password: SecretStr = Field(
        SecretStr(""),
        description="Its secret (at least 12 characters); sent only to the hosts of this route's ring URIs.",
    )
    ring_realm: str = Field(
        "", max_length=256, description="When set, only challenges of this realm are answered."
    )
    # -- live protection (issue 14): the operator's key, warnings, the long-call guard ----------
    live: bool | None = Field(
        None, description="Live detection of this route's calls; None: on when the transcriber runs here."
    )
    warning: Literal["off", "ask", "auto"] = Field(
        "ask",
        description='"ask": a severe live flag puts the warning button before the supervisor; '
        '"auto": the warning plays by itself after auto_warning_flags severe flags; "off": neither.',
    )
    warning_text: str = Field(WARNING_TEXT, min_length=1, max_length=500)
    warning_audio: str = Field("", description="WAV of the warning; spoken from warning_text when empty.")
    protection_key: str = Field(
        "*9", pattern=r"^[0-9*#A-Da-d]{1,8}$", description="DTMF keys the operator presses to warn."
    )
    protection_window_s: float = Field(
        10, gt=0, le=600, description="A second press within this many seconds ends (or transfers) the call."
    )
    protection_second: Literal["end", "transfer"] = "end"
    supervisor: str = Field("", description="SIP URI (or number) rung on a transfer by the second press.")
    final_text: str = Field(FINAL_TEXT, min_length=1, max_length=500)
    final_audio: str = Field("", description="WAV of the final message; spoken from final_text when empty.")
    auto_warning_flags: int = Field(2, ge=1, le=100)
    auto_warning_window_s: float = Field(60, gt=0, le=3600)
    long_call_alert_min: float = Field(
        0, ge=0, le=1440, description="Alert the board after N minutes; 0: off."
    )
    long_call_warn_min: float = Field(
        0, ge=0, le=1440, description="Play the time-limit message after M minutes; 0: off."
    )
    long_call_end_after_min: float = Field(
        0, ge=0, le=1440, description="End the call K minutes after the time-limit message; 0: off."
    )
    long_call_text: str = Field(
        LONG_CALL_TEXT, min_length=1, max_length=500, description="{minutes} becomes K."
    )
    long_call_audio: str = Field("", description="WAV of the time-limit message; spoken when empty.")

    @model_validator(mode="after")
    def _ring_secret(self) -> RouteSettings:
        n = len(self.ring_password.get_secret_value())
        if 0 < n < MIN_SECRET_LENGTH:
            raise ValueError(
                f"経路 {self.match} の ring_password が短すぎます（{MIN_SECRET_LENGTH} 文字以上）"
                f" / route {self.match}: ring_password is shorter than {MIN_SECRET_LENGTH} characters"
            )
        return self

    @model_validator(mode="after")
    def _transfer_target(self) -> RouteSettings:
        if self.protection_second == "transfer" and not self.supervisor:
            raise ValueError(
                'protection_second = "transfer" には supervisor が必要です / '
                'protection_second = "transfer" needs a supervisor to ring'
            )
        return self

    @model_validator(mode="after")
    def _long_call_end(self) -> RouteSettings:
        # the spoken time-limit message would promise an end "in 0 minutes" that never comes
        if (
            self.long_call_warn_min
            and not self.long_call_end_after_min
            and not self.long_call_audio
            and "{minutes}" in self.long_call_text
        ):
            raise ValueError(
                "long_call_end_after_min が 0 のとき long_call_text に {minutes} は使えません"
                "（「0分で終了」と流れます）/ long_call_end_after_min is 0 but long_call_text says "
                "{minutes}: set long_call_end_after_min, or a long_call_text without {minutes}"
            )
        return self


class AnnouncementSettings(Section):
    """The recording notice of a route."""

    mode: Literal["automatic", "operator"] = "automatic"
    text: str = "この通話は、サービス向上のため録音させていただきます。"
    audio: str = Field("", description="WAV file; made from text when empty.")
    voice: str = ""


#: the shortest digest secret an agent may have
MIN_SECRET_LENGTH = 12


class AgentSettings(Section):
    """An operator: the SIP user that answers or places calls."""

    name: str = Field(..., min_length=1)
    sip_user: str = Field(..., min_length=1)
    site: str = ""
    password: SecretStr = Field(
        SecretStr(""),
        description="Digest secret of the agent's phone (at least 12 characters; "
        "`akashi agent secret NAME` makes one). Without one the agent cannot call out.",
    )
    outbound_notice: bool | None = None

    @model_validator(mode="after")
    def _secret_length(self) -> AgentSettings:
        n = len(self.password.get_secret_value())
        if 0 < n < MIN_SECRET_LENGTH:
            raise ValueError(
                f"担当者 {self.name}（{self.sip_user}）のパスワードが短すぎます（{MIN_SECRET_LENGTH} 文字以上）"
                f" / agent {self.name} ({self.sip_user}): password is shorter than {MIN_SECRET_LENGTH} "
                "characters; make one with `akashi agent secret`"
            )
        return self


class SipSettings(Section):
    """SIP and RTP."""

    enabled: bool = False
    listen: str = "0.0.0.0:5060"
    public_address: str = ""
    rtp_ports: str = Field("20000-29999", pattern=r"^\d{1,5}-\d{1,5}$")
    ipv6_address: str = Field(
        "",
        description="Akashi's own IPv6 address: a phone whose SDP offers IPv6 media (c=IN IP6) gets an RTP "
        "port bound and advertised on it; empty: such offers are answered 488 before the call is answered.",
    )
    tls_cert: str = ""
    tls_key: str = ""
    tls_listen: str = ""
    tls_ca: str = Field(
        "",
        description="CA certificates (PEM) that phones and PBXs Akashi calls over TLS (sips: or transport=tls) "
        "must chain to (a trunk uses its own tls_ca instead). Empty: the system's CAs.",
    )
    rtp_timeout_s: float = Field(30.0, gt=0, le=3600)
    session_expires_s: int = Field(
        1800,
        ge=1,
        le=86400,
        description="Session-Expires Akashi asks for on the legs it calls (RFC 4028 session timer).",
    )
    min_se_s: int = Field(
        90,
        ge=1,
        le=86400,
        description="Min-SE: the shortest session interval accepted; shorter gets 422 (RFC 4028 says "
        "at least 90; lower only for tests).",
    )
    store_processes: int = Field(
        1,
        ge=0,
        le=16,
        description="Worker processes that finalise and store finished calls (0: a thread of the SIP "
        "process). A process keeps the encryption and alignment work away from the RTP relay's GIL.",
    )
    ringback_after_notice: bool = Field(
        True, description="Play a ringback tone to the caller while the operators ring after the notice."
    )
    outbound_notice: bool = False
    outbound_announcement: str = "default"
    agent_networks: list[Network] = Field(
        default_factory=list,
        description="Networks agents' phones may call out from (empty: any). Only an extra "
        "restriction: every outbound call is digest-authenticated with the agent's secret.",
    )
    auth_lockout_after: int = Field(
        5, ge=1, le=100, description="Digest failures of one agent from one address that lock the pair."
    )
    auth_lockout_window_s: float = Field(
        600.0, gt=0, le=86400, description="The window in which those failures are counted."
    )
    auth_lockout_s: float = Field(900.0, gt=0, le=86400, description="How long a locked pair is refused.")
    realm: str = Field("akashi", min_length=1, description="Digest realm of the agents' phones.")
    digest_algorithms: list[Literal["SHA-256", "MD5"]] = Field(
        default_factory=lambda: list(DIGEST_ALGORITHMS),
        min_length=1,
        description="Algorithms of Akashi's digest challenges to agents' phones, one header each, in this "
        "order (RFC 8760); a phone answers the first it supports. Either answer is verified.",
    )
    # limits of the SIP edge (akashi.telephony.limits): what one address, or everyone, may hold
    max_calls: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="Calls at once in total (each also needs two ports of rtp_ports); more get 503 "
        "with Retry-After.",
    )
    max_calls_per_source: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Calls at once from one source address (a trunk or PBX is one address: keep this "
        "above its busiest hour); more get 503 with Retry-After.",
    )
    invites_per_second_per_source: float = Field(
        50.0,
        gt=0,
        le=10_000,
        description="New INVITEs per second from one source address, in bursts of up to one second's "
        "worth; more get 503 with Retry-After, sent without a transaction (RFC 3261 8.2.7).",
    )
    admission_max_loop_lag_ms: float = Field(
        50.0,
        ge=0,
        le=10_000,
        description="Admission control: while the SIP/media process's event-loop lag (p95 over 2 s) "
        "is above this, new calls get 503 with Retry-After so that calls already up stay clean; "
        "admitted again once lag and CPU stay below 70% of their limits for 3 s (0: not checked).",
    )
    admission_max_cpu: float = Field(
        0.85,
        ge=0,
        le=64,
        description="Admission control: CPU of the SIP/media process, in cores (1.0 = one core, "
        "averaged over 2 s), above which new calls get 503 with Retry-After (0: not checked). With media "
        "workers it is each worker's limit, and the SIP process (signalling only) is checked by its loop lag.",
    )
    media_workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = Field(
        "auto",
        description='Media worker processes that relay and record RTP, each with its own slice of rtp_ports ("auto": '
        "one per core; 0: the SIP process relays every call itself). With workers, the admission limits apply to "
        "each worker: a new call goes to the least busy one that is not overloaded, and gets 503 when all are. A "
        "worker that dies is restarted with its calls' ports; they lose at most the last half second.",
    )
    inbound_networks: list[Network] = Field(
        default_factory=list,
        max_length=1000,
        description="Addresses or networks of the trunks/PBXs that may send inbound calls, e.g. "
        '"203.0.113.5" or "10.1.0.0/16" (empty: any). An INVITE from elsewhere that would be routed '
        "inbound gets 403; agents' outbound calls are checked by agent_networks and digest instead.",
    )
    siprec_networks: list[Network] = Field(
        default_factory=list,
        max_length=1000,
        description="Addresses or networks of the SBCs/PBXs that may send SIPREC recording sessions "
        '(RFC 7866, INVITE with "Require: siprec"), e.g. "10.1.0.10" or "10.1.0.0/24". Empty (the '
        "default): every SIPREC session is refused with 403.",
    )
    trunks: list[TrunkSettings] = Field(default_factory=list)
    routes: list[RouteSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _session_timer(self) -> SipSettings:
        if self.session_expires_s < self.min_se_s:
            raise ValueError("session_expires_s must not be below min_se_s")
        return self

    @property
    def media_worker_count(self) -> int:
        """The media worker processes to start: ``media_workers``, with "auto" one per core this process may
        run on (at most as many as ``rtp_ports`` gives the two ports of a call each)."""
        if self.media_workers != "auto":
            return self.media_workers
        lo, hi = (int(p) for p in self.rtp_ports.split("-"))
        return max(1, min(cores(), 64, (hi - lo) // 4))

    @model_validator(mode="after")
    def _ports_per_worker(self) -> SipSettings:
        lo, hi = (int(p) for p in self.rtp_ports.split("-"))
        n = self.media_worker_count
        if n and (hi - lo) // 2 < 2 * n:
            raise ValueError(
                f"rtp_ports {self.rtp_ports} is too small for {n} media workers "
                "(each worker needs the two ports of at least one call)"
            )
        return self

    @field_validator("media_workers", mode="before")
    @classmethod
    def _worker_count(cls, v: object) -> object:
        return auto_or_count(
            v, 0, 64, 'media_workers must be "auto" (one per core) or a number of workers from 0 to 64'
        )

    @field_validator("rtp_ports")
    @classmethod
    def _port_range(cls, v: str) -> str:
        lo, hi = (int(p) for p in v.split("-"))
        if not 1024 <= lo < hi <= 65535:
            raise ValueError("rtp_ports must be LOW-HIGH with 1024 <= LOW < HIGH <= 65535")
        return v
