"""A hardened XML reader for documents from untrusted peers (the SRC's recording metadata).

Built on expat directly: any DOCTYPE (and so any entity declaration, internal or external) is refused,
external entities are never fetched, and the size, depth and element count are bounded before a tree
is built. What comes back is a small immutable tree of :class:`Element` with namespaced names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from akashi.telephony.siprec import SiprecError

#: the largest metadata document read (a SIP message is at most 64 KiB anyway)
MAX_BYTES = 64 * 1024
MAX_DEPTH = 24
MAX_ELEMENTS = 4000
_SEP = "\x01"  # expat's namespace separator: a character no namespace or name holds


@dataclass
class Element:
    """An element: namespace URI ("" for none), local name, attributes (local names), text, children."""

    ns: str
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find(self, name: str) -> Element | None:
        """The first child of this local name (any namespace)."""
        return next((c for c in self.children if c.name == name), None)

    def find_all(self, name: str) -> list[Element]:
        """The children of this local name (any namespace)."""
        return [c for c in self.children if c.name == name]

    def child_text(self, name: str) -> str:
        """The stripped text of the first child of this local name ("" when absent)."""
        c = self.find(name)
        return c.text.strip() if c is not None else ""

    def iter(self) -> list[Element]:
        """This element and every descendant, in document order."""
        out = [self]
        for c in self.children:
            out.extend(c.iter())
        return out


def _split(qname: str) -> tuple[str, str]:
    ns, _, local = qname.rpartition(_SEP)
    return ns, local


def parse_xml(data: bytes) -> Element:
    """The root element of ``data``; :class:`SiprecError` for anything unsafe or not well formed."""
    if len(data) > MAX_BYTES:
        raise SiprecError("metadata", f"larger than {MAX_BYTES} bytes")
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Element] = []
    root: list[Element] = []
    count = 0

    def refuse_dtd(*_args: object) -> None:
        raise SiprecError("metadata", "DOCTYPE and entity declarations are not accepted")

    def start(qname: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS:
            raise SiprecError("metadata", f"more than {MAX_ELEMENTS} elements")
        if len(stack) >= MAX_DEPTH:
            raise SiprecError("metadata", f"nested deeper than {MAX_DEPTH}")
        ns, local = _split(qname)
        el = Element(ns, local, {_split(k)[1]: v for k, v in attrs.items()})
        if stack:
            stack[-1].children.append(el)
        else:
            root.append(el)
        stack.append(el)

    def end(_qname: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = lambda *_a: 0  # never fetched (and refused by the DOCTYPE rule)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SiprecError("metadata", f"not well-formed XML ({expat.errors.messages[exc.code]})") from None
    if not root:
        raise SiprecError("metadata", "no root element")
    return root[0]
