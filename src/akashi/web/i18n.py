"""Japanese (default) and English labels for the pages, and times shown in JST.

Templates call ``t("key")``; a missing key shows the key itself so that a gap is visible, never blank.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")
LANGS = ("ja", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("証 Akashi", "Akashi"),
    "login": ("ログイン", "Log in"),
    "logout": ("ログアウト", "Log out"),
    "username": ("ユーザー名", "User name"),
    "password": ("パスワード", "Password"),
    "totp": ("確認コード（6桁）", "Verification code (6 digits)"),
    "totp_title": ("二段階認証", "Two-factor verification"),
    "submit": ("送信", "Submit"),
    "dashboard": ("ダッシュボード", "Dashboard"),
    "calls": ("通話", "Calls"),
    "cameras": ("カメラ", "Cameras"),
    "incidents": ("案件", "Incidents"),
    "admin": ("管理", "Admin"),
    "search": ("検索", "Search"),
    "from": ("開始日", "From"),
    "to": ("終了日", "To"),
    "number": ("電話番号", "Phone number"),
    "agent": ("担当者", "Agent"),
    "site": ("拠点", "Site"),
    "flag": ("フラグ", "Flag"),
    "words": ("発言内容", "Words said"),
    "any": ("すべて", "Any"),
    "started": ("開始時刻", "Started"),
    "duration": ("通話時間", "Duration"),
    "direction": ("方向", "Direction"),
    "caller": ("発信者", "Caller"),
    "caller_withheld": ("非通知", "Withheld"),
    "dialled": ("着信先", "Dialled"),
    "status": ("状態", "Status"),
    "flags": ("フラグ", "Flags"),
    "results": ("件", "results"),
    "prev": ("前へ", "Previous"),
    "next": ("次へ", "Next"),
    "no_results": ("該当する通話はありません。", "No calls match."),
    "call": ("通話", "Call"),
    "customer": ("顧客", "Customer"),
    "operator": ("担当者", "Operator"),
    "mute": ("ミュート", "Mute"),
    "transcript": ("文字起こし", "Transcript"),
    "no_transcript": ("文字起こしはまだありません。", "No transcript yet."),
    "no_media": ("録音はありません。", "No recording."),
    "facts": ("通話情報", "Call facts"),
    "notice": ("録音告知", "Recording notice"),
    "notice_played": ("告知再生", "Notice played"),
    "notes": ("メモ", "Notes"),
    "add_note": ("メモを追加", "Add note"),
    "incident": ("案件", "Incident"),
    "add_to_incident": ("案件に追加", "Add to incident"),
    "new_incident": ("新しい案件", "New incident"),
    "title": ("件名", "Title"),
    "legal_hold": ("訴訟ホールド", "Legal hold"),
    "hold_on": ("ホールド中", "On hold"),
    "hold_off": ("ホールドなし", "Not held"),
    "set_hold": ("ホールドする", "Place hold"),
    "release_hold": ("ホールド解除", "Release hold"),
    "reason": ("理由", "Reason"),
    "export": ("証拠パッケージを書き出す", "Export evidence package"),
    "flagged_week": ("今週のフラグ付き通話", "Flagged calls this week"),
    "calls_per_day": ("日別通話数", "Calls per day"),
    "top_keywords": ("よく出る言葉", "Top keywords"),
    "top_flagged_words": ("よく検出された問題発言", "Most flagged words"),
    "repeat_callers": ("繰り返し発信者", "Repeat callers"),
    "compliance": ("告知実施率", "Notice compliance"),
    "cameras_state": ("カメラ稼働状況", "Cameras online/offline"),
    "online": ("稼働中", "online"),
    "offline": ("停止", "offline"),
    "last_segment": ("最終記録", "Last segment"),
    "none_yet": ("まだありません。", "Nothing yet."),
    "no_cameras": ("カメラは登録されていません。", "No cameras are configured."),
    "timeline": ("タイムライン", "Timeline"),
    "gaps": ("欠落", "Gaps"),
    "segments": ("録画区間", "Segments"),
    "no_segments": ("この日の録画はありません。", "No footage on this day."),
    "date": ("日付", "Date"),
    "open": ("対応中", "open"),
    "closed": ("完了", "closed"),
    "created": ("作成", "Created"),
    "create": ("作成", "Create"),
    "save": ("保存", "Save"),
    "users": ("利用者", "Users"),
    "role": ("役割", "Role"),
    "sites": ("拠点", "Sites"),
    "audit": ("監査ログ", "Audit log"),
    "user": ("利用者", "User"),
    "action": ("操作", "Action"),
    "target": ("対象", "Target"),
    "outcome": ("結果", "Outcome"),
    "client": ("接続元", "Client"),
    "time": ("日時", "Time"),
    "verify": ("証拠ストア検証", "Store verification"),
    "run_verify": ("今すぐ検証", "Verify now"),
    "verify_ok": ("正常", "OK"),
    "verify_bad": ("問題あり", "Problems found"),
    "never_verified": ("まだ検証していません。", "Not verified yet."),
    "lexicon": ("ハラスメント語彙", "Harassment lexicon"),
    "notice_text": ("告知文", "Notice text"),
    "preview": ("試聴", "Preview"),
    "retention": ("保存期間", "Retention"),
    "days": ("日", "days"),
    "agents": ("担当者", "Agents"),
    "agent_name": ("氏名", "Name"),
    "agent_password": ("パスワード（空欄: 変更なし）", "Password (blank: unchanged)"),
    "agent_hint": (
        "SIP ユーザーを空にした行は削除されます。電話の設定は再起動後に反映されます。",
        "Rows with an empty SIP user are removed. Telephony picks changes up on restart.",
    ),
    "agent_secret": ("発信用パスワード", "Outbound secret"),
    "agent_secret_new": ("新しく作る", "Make a new one"),
    "agent_secret_set": ("設定済み", "set"),
    "agent_secret_unset": ("未設定（発信できません）", "not set (cannot call out)"),
    "agent_secret_once": (
        "表示はこの一度だけです。電話機の認証パスワードに設定してください（ユーザー名は SIP ユーザー）。"
        "電話の設定は再起動後に反映されます。",
        "Shown only this once: set it as the phone's authentication password (user name: the SIP user). "
        "Telephony picks it up on restart.",
    ),
    "back": ("戻る", "Back"),
    "sip_routes": ("SIP 設定", "SIP routes"),
    "filter": ("絞り込み", "Filter"),
    "forbidden": ("この操作は許可されていません。", "You may not do this."),
    "not_found": ("見つかりません。", "Not found."),
    "login_failed": (
        "ユーザー名またはパスワードが違います。",
        "Wrong user name or password.",
    ),
    "session_expired": (
        "一定時間操作がなかったためログアウトしました。",
        "You were logged out after a period of inactivity.",
    ),
    "language": ("English", "日本語"),
    "in": ("着信", "inbound"),
    "out": ("発信", "outbound"),
    "completed": ("完了", "completed"),
    "missed": ("不在", "missed"),
    "interrupted": ("中断", "interrupted"),
    "failed": ("失敗", "failed"),
    "yes": ("はい", "yes"),
    "no": ("いいえ", "no"),
    "sort": ("並べ替え", "Sort"),
    "newest": ("新しい順", "Newest first"),
    "oldest": ("古い順", "Oldest first"),
    "longest": ("長い順", "Longest first"),
    "severity": ("深刻度", "Severity"),
    "play": ("再生", "Play"),
    "waveform": ("波形", "Waveform"),
    "items": ("対象", "Items"),
    "clip_export": ("区間を書き出す", "Export range"),
    "name": ("名前", "Name"),
    "new_user": ("利用者を追加", "Add user"),
    "view": ("表示", "View"),
    "live": ("ライブ", "Live"),
    "account": ("アカウント", "Account"),
    "saved": ("保存しました。", "Saved."),
    "account_error": ("入力内容を確認してください。", "Please check what you entered."),
    "change_password": ("パスワード変更", "Change password"),
    "current_password": ("現在のパスワード", "Current password"),
    "new_password": ("新しいパスワード", "New password"),
    "totp_on": ("二段階認証は有効です。", "Two-factor sign-in is on."),
    "totp_remove": ("二段階認証を解除", "Turn off two-factor"),
    "totp_enrol": ("二段階認証を有効にする", "Turn on two-factor"),
    "totp_howto": (
        "認証アプリ（Google Authenticator など）に次の鍵を登録し、表示された6桁のコードを入力してください。",
        "Add this key to an authenticator app, then enter the 6-digit code it shows.",
    ),
    "start_time": ("開始時刻", "Start time"),
    "end_time": ("終了時刻", "End time"),
    "restart_note": (
        "変更は akashi.toml に保存されます。通話録音（SIP）は再起動後に反映します。環境変数 AKASHI_* が優先されます。",
        "Changes are saved to akashi.toml; telephony picks them up on restart. AKASHI_* environment overrides win.",
    ),
    "mode": ("告知方式", "Mode"),
    "mode_automatic": ("自動音声", "automatic"),
    "mode_operator": ("担当者が読み上げ", "operator"),
    "new_notice": ("告知を追加", "Add a notice"),
    "route_match": ("着信番号（* は全て）", "Dialled number (* for any)"),
    "route_ring": ("呼出先 SIP URI（, 区切り）", "Ring SIP URIs (comma-separated)"),
    "route_hint": (
        "行を削除するには着信番号を空にします。最後の行は新しい経路です。",
        "Clear the number to delete a row; the last row adds a route.",
    ),
    "calls_days": ("通話の保存日数", "Days calls are kept"),
    "camera_days": ("カメラ映像の保存日数", "Days footage is kept"),
    "lexicon_hint": (
        "TOML 形式で編集します。保存前に検査し、<home>/lexicon.toml に保存して使います。",
        "Edit the TOML; it is checked before it is saved as <home>/lexicon.toml and used.",
    ),
    "camera_url": ("カメラ URL（rtsp://、保存後は表示しません）", "Camera URL (rtsp://; never shown again)"),
    "segment_seconds": ("区切り秒数", "Segment seconds"),
    "add": ("追加", "Add"),
    "remove": ("削除", "Remove"),
    "grants": ("閲覧権限（弁護士など）", "Access grants (counsel)"),
    "grant_user": ("利用者（役割 counsel）", "User (role counsel)"),
    "grant_until": ("期限（この日まで）", "Until (through this day)"),
    "grant": ("付与", "Grant"),
    "revoke": ("取消", "Revoke"),
    "revoked": ("取消済み", "revoked"),
    "expired": ("期限切れ", "expired"),
    "clips": ("映像", "Clips"),
    # audit log: actions, targets, outcomes (issue 11 item 8); an action not listed shows its code
    "act_login": ("ログイン", "log in"),
    "act_login_totp": ("ログイン（確認コード）", "log in (code)"),
    "act_logout": ("ログアウト", "log out"),
    "act_view": ("閲覧", "view"),
    "act_play": ("再生", "play"),
    "act_download": ("ダウンロード", "download"),
    "act_live": ("ライブ視聴", "live view"),
    "act_search": ("検索", "search"),
    "act_export": ("書き出し", "export"),
    "act_note": ("メモ", "note"),
    "act_hold": ("ホールド", "legal hold"),
    "act_release": ("ホールド解除", "hold released"),
    "act_verify": ("検証", "verification"),
    "act_setup": ("初期設定", "first setup"),
    "act_admin": ("管理", "admin"),
    "act_user_create": ("利用者追加", "user added"),
    "act_user_add": ("利用者追加", "user added"),
    "act_user_update": ("利用者変更", "user changed"),
    "act_user_reset": ("パスワード等リセット", "password/2FA reset"),
    "act_password_change": ("パスワード変更", "password changed"),
    "act_totp_enrol": ("二段階認証の登録", "2FA enrolled"),
    "act_totp_remove": ("二段階認証の解除", "2FA removed"),
    "act_site_create": ("拠点追加", "site added"),
    "act_config_change": ("設定変更", "settings changed"),
    "act_config_view": ("設定閲覧", "settings viewed"),
    "act_lexicon_change": ("語彙変更", "lexicon changed"),
    "act_camera_add": ("カメラ追加", "camera added"),
    "act_camera_remove": ("カメラ削除", "camera removed"),
    "act_agent_secret": ("発信用パスワード作成", "agent secret made"),
    "act_incident_create": ("案件作成", "incident opened"),
    "act_incident_update": ("案件更新", "incident changed"),
    "act_incident_link": ("案件に追加", "linked to incident"),
    "act_incident_grant": ("閲覧権限付与", "access granted"),
    "act_incident_revoke": ("閲覧権限取消", "access revoked"),
    "act_demo_start": ("デモ開始", "demo started"),
    "act_demo_clear": ("デモ削除", "demo cleared"),
    "act_checkpoint": ("チェックポイント", "checkpoint"),
    "act_keys_backup_confirm": ("鍵のバックアップ確認", "key backup confirmed"),
    "act_signage_print": ("掲示物の印刷", "signs printed"),
    "act_ledger_accept_head": ("台帳の先頭を承認", "ledger head accepted"),
    "act_audit_accept_head": ("監査ログの先頭を承認", "audit head accepted"),
    "act_sip_invite_refused": ("着信拒否（SIP）", "SIP call refused"),
    "act_sip_outbound_refused": ("発信拒否（SIP）", "SIP outbound refused"),
    "act_rtp_refused": ("音声パケット拒否", "RTP refused"),
    "act_retention": ("保存期間による削除", "retention deletion"),
    "tgt_call": ("通話", "call"),
    "tgt_user": ("利用者", "user"),
    "tgt_config": ("設定", "settings"),
    "tgt_camera": ("カメラ", "camera"),
    "tgt_site": ("拠点", "site"),
    "tgt_incident": ("案件", "incident"),
    "tgt_session": ("セッション", "session"),
    "tgt_segment": ("録画区間", "segment"),
    "out_ok": ("成功", "ok"),
    "out_denied": ("拒否", "denied"),
    "out_failed": ("失敗", "failed"),
    "cam_recording": ("録画中", "recording"),
    "cam_connecting": ("接続中", "connecting"),
    "cam_stopped": ("停止", "stopped"),
    "cam_removed": ("削除済み", "removed"),
    "cam_error": ("エラー", "error"),
    "cam_unreachable": ("接続できません", "unreachable"),
    "cam_auth_refused": ("認証が拒否されました", "authentication refused"),
    "cam_no_keyframe": ("キーフレームなし", "no keyframe"),
    "cam_disabled": ("無効", "disabled"),
    "all_sites": ("全拠点", "all sites"),
    "detail": ("詳細", "Detail"),
    "camera_add_howto": (
        "カメラは［管理］→［カメラ］で名前と rtsp:// の URL を入れて追加します。",
        "Add a camera under Admin → Cameras with a name and its rtsp:// URL.",
    ),
    "camera_add_ask": (
        "カメラの追加は管理者が行います。",
        "An administrator adds cameras.",
    ),
    "no_calls_linked": ("通話はまだありません。", "No calls linked yet."),
    "incident_notes_first": ("案件作成時のメモ", "Notes when opened"),
    # background work (issue 11 item 7)
    "analysis_queued": ("文字起こし待ち", "Waiting to be transcribed"),
    "analysis_transcribing": ("文字起こし中", "Transcribing"),
    "analysis_retrying": ("再試行待ち", "Will retry"),
    "analysis_done": ("解析済み", "Analysed"),
    "analysis_failed": ("文字起こし失敗", "Transcription failed"),
    "analysis_none": ("未解析", "Not analysed"),
    "analysis_no_audio": ("音声なし", "No audio"),
    "no_flags": ("フラグなし", "No flags"),
    "transcript_empty": ("発話は検出されませんでした。", "No speech was found."),
    "about": ("約", "about"),
    "since": ("時刻", "since"),
    "attempts": ("試行", "attempt"),
    "recording": ("録音", "Recording"),
    "download": ("ダウンロード", "Download"),
    "date_ignored": (
        "日付の形が正しくない条件は使わずに検索しました。",
        "A date that is not a date was left out of the search.",
    ),
    # labels of codes (issue 11 item 8)
    "order_newest": ("新しい順", "Newest first"),
    "order_oldest": ("古い順", "Oldest first"),
    "order_longest": ("長い順", "Longest first"),
    "order_shortest": ("短い順", "Shortest first"),
    "order_severity": ("深刻度順", "Most severe first"),
    "order_caller": ("発信者順", "By caller"),
    "order_agent": ("担当者順", "By agent"),
    "mode_none": ("告知なし", "none"),
    "check_given": ("告知あり・目的あり", "given with purpose"),
    "check_given_without_purpose": ("告知あり・目的なし", "given without purpose"),
    "check_late": ("告知が遅い", "late"),
    "check_not_given": ("告知なし", "not given"),
    "held_by": ("ホールドした人", "Held by"),
    "held_at": ("ホールド日時", "Held at"),
    # admin forms (issue 11 item 4)
    "form_refused": (
        "保存しませんでした。入力を確認してください。",
        "Nothing was saved: please check the form.",
    ),
    "form_refused_go": ("該当箇所へ", "Go to the problem"),
    "row_at_fault": ("問題のある行:", "Row at fault:"),
    "label": ("表示名", "Label"),
    "notice_name": ("告知名", "Notice name"),
    "sites_hint": (
        "拠点は ID をカンマ区切りで入力します。登録済み:",
        "Sites are IDs, comma-separated. Known:",
    ),
    "camera_url_again": (
        "カメラ URL は安全のため保持していません。もう一度入力してください。",
        "The camera URL is never kept: please enter it again.",
    ),
    "strategy": ("呼出方法", "Ringing"),
    "strategy_parallel": ("一斉呼出", "all at once"),
    "strategy_sequential": ("順番に呼出", "one after another"),
    "ring_timeout": ("呼出秒数", "Ring seconds"),
    "kind_word": ("語句", "words"),
    "kind_demand": ("要求", "demands"),
    "disabled": ("無効", "disabled"),
    "disable_user": ("無効にする", "Disabled"),
    "unlock": ("ロック解除", "Unlock"),
    "locked": ("ロック中", "locked"),
    "totp_short": ("二段階認証", "2FA"),
    "reset_access": ("パスワード・二段階認証のリセット", "Reset password or two-factor"),
    "totp_reset": ("二段階認証を解除する", "Remove two-factor sign-in"),
    "reset": ("リセット", "Reset"),
    "reset_hint": (
        "リセットすると本人はすべての端末からログアウトされ、監査ログに記録されます。",
        "The user is logged out everywhere, and the reset is written to the audit log.",
    ),
    "role_admin": ("管理者", "administrator"),
    "role_manager": ("管理職", "manager"),
    "role_operator": ("オペレーター", "operator"),
    "role_auditor": ("監査担当", "auditor"),
    "role_counsel": ("弁護士（閲覧のみ）", "counsel (read only)"),
    # the mining page (web/mining.py)
    "mining": ("傾向分析", "Mining"),
    "mining_csv": ("CSV で書き出す", "Export CSV"),
    "mining_until": ("集計の最終日", "Last day"),
    "mining_period_hint": (
        "今週（最終日までの7日間）と、その前の4週間を集計します（日本時間）。",
        "Covers the week ending on the last day and the four weeks before it (Japan time).",
    ),
    "mining_this_week": ("今週", "This week"),
    "mining_terms": ("今週増えている言葉（拠点別）", "Terms rising this week, by site"),
    "mining_terms_hint": (
        "顧客側の発言の名詞から、人名・会社名・つなぎ言葉・聞き取りの不確かな語を除き、前4週と比べて今週多くの通話で出た言葉です。",
        "Nouns the customers said (names, fillers and uncertain words left out), said in more calls this week "
        "than the four weeks before predict.",
    ),
    "mining_no_content": (
        "監査担当者には発言内容（言葉）の集計は表示されません。",
        "Aggregates of the words said are not shown to auditors.",
    ),
    "mining_term": ("言葉", "Term"),
    "mining_week_calls": ("今週の通話", "Calls this week"),
    "mining_earlier_calls": ("前4週の通話", "Calls, 4 weeks before"),
    "mining_all_sites": ("全拠点", "All sites"),
    "mining_repeat_hint": (
        "5週間に繰り返し電話をかけてきた番号と、その通話",
        "Numbers that called repeatedly in five weeks, with their calls",
    ),
    "mining_their_calls": ("通話", "Their calls"),
    "mining_by_category": ("ハラスメント（分類別）", "Harassment by category"),
    "mining_by_weekday": ("ハラスメント（曜日別）", "Harassment by weekday"),
    "mining_by_hour": ("ハラスメント（時間帯別）", "Harassment by hour of day"),
    "mining_long": ("長時間の通話", "Long calls"),
    "mining_long_hint": ("次の長さを超える通話", "Calls longer than"),
    "mining_minutes": ("分", "minutes"),
}


def translate(key: str, lang: str) -> str:
    """The label for ``key`` in ``lang`` (``ja`` or ``en``); the key itself when unknown."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def label(prefix: str, code: str | None, lang: str) -> str:
    """The label of a stored code (an audit action, a camera state…); the code itself when none is known."""
    if not code:
        return ""
    pair = MESSAGES.get(prefix + code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]


def pick_language(cookie: str | None, accept: str | None) -> str:
    """The page language: the cookie if set, else Japanese (the product's default)."""
    if cookie in LANGS:
        return str(cookie)
    del accept  # Japanese workplaces: default stays Japanese whatever the browser says
    return "ja"


def jst(value: datetime | None, *, with_zone: bool = True, seconds: bool = True) -> str:
    """A UTC time as JST text, e.g. ``2026-11-29 19:01:02 JST``; empty for ``None``."""
    if value is None:
        return ""
    text = value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} JST" if with_zone else text


def jst_iso(value: str | None) -> str:
    """An ISO-8601 UTC time stored as text (e.g. the last verification) as JST text with the zone."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return jst(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
