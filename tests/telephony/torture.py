"""Torture messages after RFC 4475 (section 3.1), retyped for the parser tests.

Each entry: name -> (message bytes, "valid" | "invalid"). "invalid" messages must be refused
with a :class:`SipParseError` naming the field; "valid" ones must parse. Semantically odd but
well-formed messages (RFC 4475 3.3) are "valid" here: the parser's job is syntax.
"""

from __future__ import annotations


def _m(*lines: str, body: str = "") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


SDP = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.3\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n"

_BASE = [
    "To: sip:j.user@example.com",
    'From: "J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8',
    "Max-Forwards: 68",
    "Call-ID: wsinv.ndaksdj@192.0.2.1",
]

TORTURE: dict[str, tuple[bytes, str]] = {
    # 3.1.1.1 a short tortuous INVITE: folding, odd spacing, escapes, compact forms
    "wsinv": (
        _m(
            "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
            "TO :",
            " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
            "  ;",
            "  tag = 98asjd8",
            "MaX-fOrWaRdS: 0068",
            "Call-ID: wsinv.ndaksdj@192.0.2.1",
            "Content-Length   : 150",
            "cseq: 0009",
            "  INVITE",
            "Via  : SIP  /   2.0",
            " /UDP",
            "    192.0.2.2;branch=390skdjuw",
            "s :",
            "NewFangledHeader:   newfangled value",
            " continued newfangled value",
            "UnknownHeaderWithUnusualValue: ;;,,;;,;",
            "Content-Type: application/sdp",
            "Route:",
            " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
            "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
            "  branch  =   z9hG4bK9ikj8  ,",
            " SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
            " z9hG4bK30239",
            'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
            "      newvalue ;",
            "  secondparam ; q = 0.33",
            body=SDP.ljust(150, " ")[:150],
        ),
        "valid",
    ),
    # 3.1.1.2 wide range of valid characters
    "intmeth": (
        _m(
            "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
            "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
            'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>',
            "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9\";tag=_token~1'+`*%!-.",
            "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
            "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
            "Max-Forwards: 255",
            "extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb",
            "Content-Length: 0",
        ),
        "valid",
    ),
    # 3.1.1.3 escaped characters in URIs
    "esc01": (
        _m(
            "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
            "To: sip:%75se%72@example.com",
            "From: <sip:I%20have%20spaces@example.net>;tag=938",
            "Max-Forwards: 87",
            "i: esc01.239409asdfakjkn23onasd0-3234",
            "CSeq: 234234 INVITE",
            "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
            "C: application/sdp",
            "Contact:",
            "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
            "Content-Length: 98",
            body="v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n"[
                :98
            ],
        ),
        "valid",
    ),
    "escnull": (
        _m(
            "REGISTER sip:example.com SIP/2.0",
            "To: sip:null-%00-null@example.com",
            "From: sip:null-%00-null@example.com;tag=839923423",
            "Max-Forwards: 70",
            "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
            "CSeq: 14398234 REGISTER",
            "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
            "Contact: <sip:%00@host5.example.com>",
            "Contact: <sip:%00%00@host5.example.com>",
            "L:0",
        ),
        "valid",
    ),
    "esc02": (
        _m(
            "RE%47IST%45R sip:registrar.example.com SIP/2.0",
            'To: "%Z%45" <sip:resource@example.com>',
            'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
            "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
            "Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209323",
            "CSeq: 29344 RE%47IST%45R",
            "Max-Forwards: 70",
            "Contact: <sip:alias1@host1.example.com>",
            "C%6Fntact: <sip:alias2@host2.example.com>",
            "Contact: <sip:alias3@host3.example.com>",
            "l: 0",
        ),
        "valid",
    ),
    "lwsdisp": (
        _m(
            "OPTIONS sip:user@example.com SIP/2.0",
            "To: sip:user@example.com",
            "From: caller<sip:caller@example.com>;tag=323",
            "Max-Forwards: 70",
            "Call-ID: lwsdisp.1234abcd@funky.example.com",
            "CSeq: 60 OPTIONS",
            "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
            "l: 0",
        ),
        "valid",
    ),
    "longreq": (
        _m(
            "INVITE sip:user@example.com SIP/2.0",
            'To: "I have a user name of '
            + "extreme" * 10
            + ' proportion"<sip:user@example.com:6000;unknownparam1=very'
            + "long" * 20
            + "value;longparam"
            + "name" * 25
            + "=shortvalue;very"
            + "long" * 25
            + "ParameterNameWithNoValue>",
            "F: sip:"
            + "amazinglylongcallername" * 5
            + "@example.net;tag=12"
            + "982" * 50
            + "424;unknownheaderparam"
            + "name" * 20
            + "=unknowheaderparam"
            + "value" * 15
            + ";unknownValueless"
            + "paramname" * 10,
            "Call-ID: longreq.one" + "really" * 20 + "longcallid",
            "CSeq: 3882340 INVITE",
            "Unknown-"
            + "Long" * 20
            + "-Name: unknown-"
            + "long" * 20
            + "-value; unknown-"
            + "long" * 20
            + "-parameter-name = unknown-"
            + "long" * 20
            + "-parameter-value",
            "Via: SIP/2.0/TCP sip33.example.com",
            "v: SIP/2.0/TCP sip32.example.com",
            "V: SIP/2.0/TCP sip31.example.com",
            *[f"Via: SIP/2.0/TCP sip{n}.example.com" for n in range(30, 0, -1)],
            "Max-Forwards: 70",
            "Contact: <sip:" + "amazinglylongcallername" * 5 + "@host5.example.net>",
            "Content-Type: application/sdp",
            "l: 150",
            body=SDP.ljust(150, " ")[:150],
        ),
        "valid",
    ),
    # two requests in one datagram: Content-Length ends the first; the rest is not part of it
    "dblreq": (
        _m(
            "REGISTER sip:example.com SIP/2.0",
            "To: sip:j.user@example.com",
            "From: sip:j.user@example.com;tag=43251j3j324",
            "Max-Forwards: 8",
            "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
            "Contact: sip:j.user@host.example.com",
            "CSeq: 8 REGISTER",
            "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
            "Content-Length: 0",
        )
        + _m(
            "INVITE sip:joe@example.com SIP/2.0",
            "t: sip:joe@example.com",
            "From: sip:caller@example.net;tag=141334",
            "Max-Forwards: 8",
            "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
            "Content-Type: application/sdp",
            "Content-Length: 0",
        ),
        "valid",
    ),
    "semiuri": (
        _m(
            "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
            "To: sip:j_user@example.com",
            "From: sip:caller@example.org;tag=33242",
            "Max-Forwards: 3",
            "Call-ID: semiuri.0ha0isndaksdj",
            "CSeq: 8 OPTIONS",
            "Accept: application/sdp, application/pkcs7-mime,",
            "        multipart/mixed, multipart/signed,",
            "        message/sip, message/sipfrag",
            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
            "l: 0",
        ),
        "valid",
    ),
    "transports": (
        _m(
            "OPTIONS sip:user@example.com SIP/2.0",
            "To: sip:user@example.com",
            "From: <sip:caller@example.com>;tag=323",
            "Max-Forwards: 70",
            "Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
            "Accept: application/sdp",
            "CSeq: 60 OPTIONS",
            "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
            "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
            "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
            "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
            "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
            "l: 0",
        ),
        "valid",
    ),
    "unreason": (
        _m(
            "SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe",
            "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
            "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
            "CSeq: 35 INVITE",
            "From: sip:user@example.com;tag=11141343",
            "To: sip:user@example.edu;tag=2229",
            "Content-Length: 0",
        ),
        "valid",
    ),
    "noreason": (
        _m(
            "SIP/2.0 100 ",
            "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
            "Call-ID: noreason.asndj203insdf99223ndf",
            "CSeq: 35 INVITE",
            "From: <sip:user@example.com>;tag=39ansfi3",
            "To: <sip:user@example.edu>;tag=902jndnke3",
            "Content-Length: 0",
        ),
        "valid",
    ),
    "zeromf": (
        _m(
            "OPTIONS sip:user@example.com SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=3ghsd41",
            "Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas",
            "CSeq: 39234321 OPTIONS",
            "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i",
            "Max-Forwards: 0",
            "Content-Length: 0",
        ),
        "valid",
    ),
    # 3.1.2 invalid messages
    "badinv01": (
        _m(
            "INVITE sip:user@example.com SIP/2.0",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=134161461246",
            "Max-Forwards: 7",
            "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
            'Contact: "Joe" <sip:joe@example.org>;;;;',
            "Content-Length: 152",
            "Content-Type: application/sdp",
            body=SDP,
        ),
        "invalid",
    ),
    "clerr": (
        _m(
            "INVITE sip:user@example.com SIP/2.0",
            "Max-Forwards: 80",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=93942939o2",
            "Contact: <sip:caller@hungry.example.net>",
            "Call-ID: clerr.0ha0isndaksdjweiafasdk3",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
            "Content-Type: application/sdp",
            "Content-Length: 9999",
            body=SDP,
        ),
        "invalid",
    ),
    "ncl": (
        _m(
            "INVITE sip:user@example.com SIP/2.0",
            "Max-Forwards: 254",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=32394234",
            "Call-ID: ncl.0ha0isndaksdj2193423r542w35",
            "CSeq: 0 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
            "Contact: <sip:caller@example53.example.net>",
            "Content-Type: application/sdp",
            "Content-Length: -999",
            body=SDP,
        ),
        "invalid",
    ),
    "scalar02": (
        _m(
            "REGISTER sip:example.com SIP/2.0",
            "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
            "To: <sip:user@example.com>",
            "From: <sip:user@example.com>;tag=239232jh3",
            "CSeq: 36893488147419103232 REGISTER",
            "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
            "Max-Forwards: 300",
            "Expires: 1" + "0" * 20,
            "Contact: <sip:user@host129.example.com>;expires=280297596632815",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "quotbal": (
        _m(
            "INVITE sip:user@example.com SIP/2.0",
            'To: "Mr. J. User <sip:j.user@example.com>',
            "From: sip:caller@example.net;tag=93334",
            "Max-Forwards: 10",
            "Call-ID: quotbal.aksdj",
            "Contact: <sip:caller@host59.example.net>",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
            "Content-Type: application/sdp",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "ltgtruri": (
        _m(
            "INVITE <sip:user@example.com> SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=39291",
            "Max-Forwards: 23",
            "Call-ID: ltgtruri.1@192.0.2.5",
            "CSeq: 1 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.5",
            "Contact: <sip:caller@host5.example.net>",
            "Content-Type: application/sdp",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "lwsruri": (
        _m(
            "INVITE sip:user@example.com; lr SIP/2.0",
            "To: sip:user@example.com;tag=3xfe-9921883-z9f",
            "From: sip:caller@example.net;tag=231413434",
            "Max-Forwards: 5",
            "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
            "CSeq: 2130706432 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
            "Contact: <sip:caller@host1.example.net>",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "lwsstart": (
        _m(
            "INVITE  sip:user@example.com  SIP/2.0",
            "Max-Forwards: 8",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=8814",
            "Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
            "CSeq: 1893884 INVITE",
            "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
            "Contact: <sip:caller@host1.example.net>",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "trws": (
        _m(
            "OPTIONS sip:remote-target@example.com SIP/2.0  ",
            "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093",
            "To: <sip:remote-target@example.com>",
            "From: <sip:local-resource@example.com>;tag=329429089",
            "Call-ID: trws.oicu34958239neffasdhr2345r",
            "Accept: application/sdp",
            "CSeq: 238923 OPTIONS",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "escruri": (
        _m(
            "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=341518",
            "Max-Forwards: 7",
            "Contact: <sip:caller@host39923.example.net>",
            "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
            "CSeq: 149209342 INVITE",
            "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
            "Content-Length: 0",
        ),
        "valid",  # syntactically fine; a UAS may refuse the header in the URI
    ),
    "badvers": (
        _m(
            "OPTIONS sip:t.watson@example.org SIP/7.0",
            "Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
            "Max-Forwards:     70",
            "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
            "To:      T. Watson <sip:t.watson@example.org>",
            "Call-ID: badvers.31417@c.example.com",
            "CSeq:    1 OPTIONS",
            "l: 0",
        ),
        "invalid",
    ),
    "mismatch01": (
        _m(
            "OPTIONS sip:user@example.com SIP/2.0",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=34525",
            "Max-Forwards: 6",
            "Call-ID: mismatch01.dj0234sxdfl3",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
            "l: 0",
        ),
        "invalid",
    ),
    "bigcode": (
        _m(
            "SIP/2.0 4294967301 better not break the receiver",
            "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
            "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
            "CSeq: 353494 INVITE",
            "From: <sip:user@example.com>;tag=39ansfi3",
            "To: <sip:user@example.edu>;tag=902jndnke3",
            "Content-Length: 0",
        ),
        "invalid",
    ),
    "insuf": (
        _m(
            "INVITE sip:user@example.com SIP/2.0",
            "CSeq: 193942 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf",
            "Content-Type: application/sdp",
            "l: 0",
        ),
        "invalid",
    ),
    "baddn": (
        _m(
            "OPTIONS sip:t.watson@example.org SIP/2.0",
            "Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
            "Max-Forwards:      70",
            "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "To:      Watson, Thomas <sip:t.watson@example.org>",
            "Call-ID: baddn.31415@c.example.com",
            "CSeq:    3 OPTIONS",
            "l: 0",
        ),
        "either",  # a lenient parser may accept the unquoted comma
    ),
    "bcast": (
        _m(
            "SIP/2.0 200 OK",
            "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
            "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23",
            "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf",
            "CSeq: 35 INVITE",
            "From: sip:user@example.com;tag=11141343",
            "To: sip:user@example.edu;tag=2229",
            "Content-Length: 0",
        ),
        "valid",
    ),
}
