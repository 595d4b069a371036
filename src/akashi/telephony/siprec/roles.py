"""Which recorded stream is the customer's (left channel) and which the operator's (right), sans-I/O.

The rule, in order (the guide says the same to the installer):

1. A participant whose number is a configured agent's ``sip_user``, or a route's ``match`` (the
   company's number the customer dialled), is the operator; the other participant is the customer.
2. Else the party the SRC marks as the caller (Oracle/Acme ``callingParty``, the original From of
   Ribbon/Sonus ``callData``) is the customer.
3. Else the first participant of the metadata is the customer.

The customer's stream is the one the customer participant sends; without stream associations (or
without metadata at all) the first ``m=`` line is the customer's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from akashi.errors import ProtocolError
from akashi.telephony.sip.uri import parse_name_addr, parse_uri, phone_number
from akashi.telephony.siprec.metadata import Metadata, Participant

Basis = Literal["agent", "route", "calling_party", "order", "sdp_order"]


def number_of(aor: str) -> str:
    """The phone number (or extension) of an AOR: ``sip:+81312345678@sbc;user=phone``, ``tel:…``,
    or a bare ``0312345678@10.0.0.1`` (Ribbon); "" when its user part is not a number."""
    aor = aor.strip()
    if not aor:
        return ""
    if aor.lower().startswith("tel:"):
        return phone_number(aor[4:].split(";", 1)[0]) or ""
    if ":" not in aor.split("@", 1)[0]:
        aor = "sip:" + aor
    try:
        user = parse_uri(aor).user
    except (ProtocolError, ValueError):
        return ""
    return phone_number(user) or ""


def national(number: str) -> str:
    """Digits of a Japanese number without +81 or the trunk 0 (so +81312345678 and 0312345678 match)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.startswith("+81"):
        return digits[2:]
    return digits.lstrip("0") if number.startswith("0") else digits


@dataclass(frozen=True)
class Roles:
    """The decision: the customer's and the operator's SDP label and participant, and why."""

    customer_label: str
    operator_label: str
    customer: Participant | None
    operator: Participant | None
    basis: Basis
    #: the customer placed the call (an inbound call), else the operator did
    inbound: bool = True


def _header_number(value: str) -> str:
    try:
        return number_of(parse_name_addr(value).uri) if value else ""
    except (ProtocolError, ValueError):
        return ""


def decide(
    meta: Metadata | None,
    labels: list[str],
    agent_users: Collection[str],
    company_numbers: Collection[str],
) -> Roles:
    """The roles of a session whose recorded streams carry ``labels`` (SDP order; two of them)."""
    first, second = labels[0], labels[1]
    people = [p for p in meta.participants if not p.left] if meta is not None else []
    if meta is None or len(people) < 2:
        return Roles(first, second, people[0] if people else None, None, "sdp_order")
    agents = {national(u) or u for u in agent_users}
    company = {national(n) or n for n in company_numbers if n != "*"}

    def key(p: Participant) -> str:
        n = number_of(p.aor)
        return national(n) or n

    operator = customer = None
    basis: Basis = "order"
    rules: tuple[tuple[set[str], Basis], ...] = ((agents, "agent"), (company, "route"))
    for wanted, why in rules:
        hits = [p for p in people if key(p) and key(p) in wanted]
        if len(hits) == 1:
            operator, basis = hits[0], why
            customer = next(p for p in people if p is not operator)
            break
    calling = _calling(meta, people)
    if operator is None and calling is not None:
        customer, basis = calling, "calling_party"
        operator = next(p for p in people if p is not customer)
    if customer is None or operator is None:
        customer, operator = people[0], people[1]
    inbound = calling is None or calling is customer
    cust_label = _label_sent(meta, customer, labels)
    op_label = _label_sent(meta, operator, labels)
    if cust_label and not op_label:
        op_label = next(lb for lb in labels if lb != cust_label)
    elif op_label and not cust_label:
        cust_label = next(lb for lb in labels if lb != op_label)
    elif not cust_label or cust_label == op_label:
        cust_label, op_label = first, second
    return Roles(cust_label, op_label, customer, operator, basis, inbound)


def _calling(meta: Metadata, people: list[Participant]) -> Participant | None:
    """The party the SRC says placed the call."""
    flagged = [p for p in people if p.calling is True]
    if len(flagged) == 1:
        return flagged[0]
    caller = _header_number(meta.from_hdr)
    if caller:
        hits = [p for p in people if number_of(p.aor) == caller]
        if len(hits) == 1:
            return hits[0]
    return None


def _label_sent(meta: Metadata, who: Participant, labels: list[str]) -> str:
    """The SDP label of a stream ``who`` sends ("" when the metadata does not say)."""
    for sid in who.send:
        st = meta.stream(sid)
        if st is not None and st.label in labels:
            return st.label
    return ""
