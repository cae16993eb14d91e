"""yuqing.redact: remembered secrets in every piece, secret-named parameters, URL passwords, log records."""

import logging

from yuqing.redact import RedactingFilter, redact, remember_secret


def test_a_remembered_url_is_redacted_whole_and_in_the_pieces_errors_show():
    remember_secret("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-tok3n-in-path")
    assert "tok3n" not in redact("POST https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-tok3n-in-path")
    assert "tok3n" not in redact("Max retries exceeded with url: /open-apis/bot/v2/hook/0a1b2c3d-tok3n-in-path")
    assert "0a1b2c3d-tok3n-in-path" not in redact("bad hook 0a1b2c3d-tok3n-in-path")
    assert redact("/open-apis/bot/v2/hook/") == "/open-apis/bot/v2/hook/"  # short path words stay


def test_secret_named_parameters_and_url_passwords_are_redacted_unknown():
    assert redact("GET /robot/send?access_token=abc123&timestamp=1&sign=x%2By") == \
        "GET /robot/send?access_token=***&timestamp=1&sign=***"
    assert redact("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a-91") .endswith("key=***")
    assert redact("http://elastic:hunter2@es.local:9200/") == "http://elastic:***@es.local:9200/"
    assert redact("no secrets here: 13 keys, monkey=3") == "no secrets here: 13 keys, monkey=3"


def test_log_records_and_their_tracebacks_are_redacted():
    remember_secret("S3cretSigningValue")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", ("S3cretSigningValue",), None)
    try:
        raise RuntimeError("token S3cretSigningValue refused")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "S3cretSigningValue" not in text and "failed with ***" in text and "token *** refused" in text
