from model.redaction import contains_blocked, redact


def test_typed_placeholders_keep_the_message():
    text = ("звони +7 912 345-67-89 или 8 (800) 555-35-35, почта ivan.petrov+x@example.org, "
            "карта 4111 1111 1111 1111, тут https://example.com/a?b=1 и t.me/somebody")
    out, counts = redact(text)
    assert out == "звони [phone] или [phone], почта [email], карта [card], тут [link] и [link]"
    assert counts == {"phone": 2, "email": 1, "card": 1, "link": 2}


def test_not_pii_is_left_alone():
    for text in ("в 12:30 у метро", "встреча 2024-01-05 12", "код 1234", "ок", "123 456", "😀"):
        assert redact(text) == (text, {})


def test_kinds_are_configurable():
    out, counts = redact("a@b.io https://x.org", kinds=("email",))
    assert out == "[email] https://x.org" and counts == {"email": 1}


def test_blocked_words_match_whole_words_case_insensitively():
    assert contains_blocked("Это СЕКРЕТ!", ["секрет"])
    assert not contains_blocked("секретарь", ["секрет"])
    assert not contains_blocked("anything", [" "])
