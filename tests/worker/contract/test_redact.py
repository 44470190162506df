"""worker.contract.redact: URL passwords, query secrets and named secrets never survive."""

from __future__ import annotations

from worker.contract.redact import Redactor, redact_url


def test_url_passwords_are_masked() -> None:
    assert redact_url("redis://:hunter2@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("rediss://user:pw@h:1/0") == "rediss://user:***@h:1/0"
    assert redact_url("postgresql://u:p%40ss@db/x?sslmode=require") == "postgresql://u:***@db/x?sslmode=require"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url("unix:///run/redis.sock?password=s3cret&db=1") == "unix:///run/redis.sock?password=***&db=1"
    text = "Error connecting to redis://:a@b and https://x.example/?token=abc def"
    assert redact_url(text) == "Error connecting to redis://:***@b and https://x.example/?token=*** def"


def test_named_secrets_and_short_ones() -> None:
    redact = Redactor(["tok-abcdefghijkl", "short", ""])
    assert redact("token tok-abcdefghijkl at redis://:pw@h") == "token *** at redis://:***@h"
    assert redact("a short word") == "a short word"
