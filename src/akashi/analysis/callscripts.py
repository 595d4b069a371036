"""The scripts of the benchmark's call set (:mod:`akashi.analysis.callset`): the test calls of
:mod:`akashi.analysis.testcalls` and more, harassment and polite, each opening with the operator's
greeting and recording notice."""

from __future__ import annotations

from akashi.analysis.testcalls import CALLS, NOTICE, ScriptedCall, Turn


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
